import { readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { compileMapping, MappingConfigError, type MappingPlan } from './compile-mapping';
import { mappingConfigSchema } from './mapping-config-schema';

/** The mapping delivered with crm-sync (YAML, in the package's `mappings/` folder). */
export const defaultMappingFile = resolve(join(__dirname, '..', '..', 'mappings', 'default.yaml'));

/**
 * Reads, validates and compiles a mapping file (YAML, or JSON by its `.json` extension); without a file, the
 * delivered default. Throws {@link MappingConfigError} listing every problem with its line and path.
 */
export function loadMapping(file: string = defaultMappingFile): MappingPlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MappingConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseMapping(text, file, extname(file) === '.json' ? 'json' : 'yaml');
}

/** {@link loadMapping} for text already read; `source` names it in messages. */
export function parseMapping(text: string, source: string, format: 'yaml' | 'json' = 'yaml'): MappingPlan {
  const lineCounter = new LineCounter();
  let document: Document | undefined;
  let value: unknown;
  if (format === 'json') {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new MappingConfigError(source, [`not valid JSON: ${(err as Error).message}`]);
    }
  } else {
    document = parseDocument(text, { lineCounter, prettyErrors: false });
    if (document.errors.length > 0) {
      throw new MappingConfigError(
        source,
        document.errors.map((error) => {
          // linePos is only filled in with prettyErrors: the line comes from the error's offset.
          const line = lineCounter.linePos(error.pos[0]).line;
          return `line ${line}: not valid YAML: ${error.message.split('\n')[0]}`;
        }),
      );
    }
    value = document.toJS();
  }
  const lineOf = (path: ReadonlyArray<PropertyKey>): number | undefined => {
    if (!document) return undefined;
    for (let length = path.length; length >= 0; length -= 1) {
      const node = document.getIn(path.slice(0, length) as unknown[], true) as
        { range?: [number, number] } | undefined;
      if (node && (isMap(node) || isSeq(node) || node.range)) {
        const offset = node.range?.[0];
        if (offset !== undefined) return lineCounter.linePos(offset).line;
      }
    }
    return undefined;
  };
  const at = (path: ReadonlyArray<PropertyKey>, message: string): string => {
    const line = lineOf(path);
    return line !== undefined ? `line ${line}, ${message}` : message;
  };

  const result = mappingConfigSchema.safeParse(value ?? {});
  if (!result.success) {
    throw new MappingConfigError(
      source,
      result.error.issues.map((issue) => at(issue.path, `${formatPath(issue.path)}: ${issueMessage(issue)}`)),
    );
  }
  try {
    return compileMapping(result.data, source);
  } catch (err) {
    if (!(err instanceof MappingConfigError)) throw err;
    throw new MappingConfigError(
      source,
      err.issues.map((issue) => {
        const rule = /^rules\[(\d+)\]/.exec(issue);
        return rule ? at(['rules', Number(rule[1])], issue) : issue;
      }),
    );
  }
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown key ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
  return issue.message;
}
