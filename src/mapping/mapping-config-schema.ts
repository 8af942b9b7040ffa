import { z } from 'zod';

/**
 * The mapping file (YAML or JSON): which S-360 attribute goes to which CRM field, in which direction, through
 * which transforms, and what the CRM accepts. Validated with zod at load, then compiled into a plan
 * (`compile-mapping.ts`); every problem is reported with its path in the file.
 */

/** A value a rule can produce or a constant can hold. */
export const mappedScalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type MappedScalar = z.infer<typeof mappedScalarSchema>;

export const crmEntitySchema = z.enum(['person', 'account', 'relay']);
export type CrmEntity = z.infer<typeof crmEntitySchema>;

export const directionSchema = z.enum(['outbound', 'inbound', 'both']);
export type MappingDirection = z.infer<typeof directionSchema>;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const valueTableSchema = z
  .object({
    /** S-360 value -> CRM value. */
    values: z.record(z.string(), mappedScalarSchema),
    /** The CRM value sent for an S-360 value that is not in the table. */
    defaultCrm: mappedScalarSchema.default(null),
    /** The S-360 value written for a CRM value not in the table; `skip` leaves S-360 unchanged. */
    defaultS360: z.string().default('skip'),
    /** S-360 values the inbound direction never writes (S-360's UNDEFINED title, for instance). */
    neverSendBack: z.array(z.string()).default([]),
  })
  .strict();

const transformChoices =
  'expected trim, upper, lower, invert, or an object: valueTable, date, constant or default';

/** One step of a rule, applied in order outbound and in reverse order inbound. */
export const transformSchema = z.union(
  [
    z.enum(['trim', 'upper', 'lower', 'invert'], { message: transformChoices }),
    z.object({ valueTable: valueTableSchema }).strict(),
    z
      .object({
        date: z
          .object({
            /** Time zone a date-time is read in to find its calendar day (IANA name). */
            timeZone: z.string().refine(isTimeZone, 'expected an IANA time zone such as Europe/Zurich'),
          })
          .strict(),
      })
      .strict(),
    z.object({ constant: mappedScalarSchema }).strict(),
    z.object({ default: mappedScalarSchema }).strict(),
  ],
  // zod reports a value that matches no option as "Invalid input" unless the union has its own message.
  { message: transformChoices },
);
export type TransformConfig = z.infer<typeof transformSchema>;

/** The kind of value a CRM field holds; checked before a record is pushed. */
export const crmFieldTypeSchema = z.enum(['string', 'boolean', 'number', 'date', 'email', 'country']);
export type CrmFieldType = z.infer<typeof crmFieldTypeSchema>;

export const mappingRuleSchema = z
  .object({
    /** The CRM field name. */
    crm: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'expected a CRM field name: letters, digits and underscores'),
    /** One S-360 attribute path, or several joined with `separator`. */
    s360: z.union([
      z.string().min(1, 'expected an S-360 attribute path such as general.firstName'),
      z.array(z.string().min(1)).min(2, 'expected at least two paths to join (or a single path as text)'),
    ]),
    direction: directionSchema.default('both'),
    /** The CRM entities the rule applies to (default: all). */
    entities: z.array(crmEntitySchema).min(1).default(['person', 'account', 'relay']),
    /** Joins several S-360 values into one CRM value ("\n" for address lines), and splits it back. */
    separator: z.string().min(1, 'expected a non-empty separator').optional(),
    transforms: z.array(transformSchema).default([]),
    /** The CRM field's kind; default: from the S-360 attribute (yes/no, number, else text). */
    type: crmFieldTypeSchema.optional(),
    /** Longest text the CRM field holds, in characters. */
    maxLength: z.number().int().min(1).optional(),
    /** What to do with a longer text: refuse the record (park it) or cut the text. */
    onTooLong: z.enum(['reject', 'truncate']).default('reject'),
    /** The CRM refuses a record without this field. */
    required: z.boolean().default(false),
    /**
     * Who decides when both sides changed the field since the last sync: `s360`, `crm`, or `latest` (the most
     * recent change wins). Seed 002, section 5.
     */
    owner: z.enum(['s360', 'crm', 'latest']).default('latest'),
  })
  .strict()
  .superRefine((rule, context) => {
    if (Array.isArray(rule.s360) && rule.separator === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['separator'],
        message: 'several S-360 paths are joined: give a separator, e.g. "\\n"',
      });
    }
    if (!Array.isArray(rule.s360) && rule.separator !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['separator'],
        message: 'a separator joins several S-360 paths: give s360 as a list',
      });
    }
  });
export type MappingRuleConfig = z.infer<typeof mappingRuleSchema>;

export const mappingConfigSchema = z
  .object({
    version: z.literal(1, { message: 'expected version: 1' }).default(1),
    /** The CRM object individuals become: PersonAccount or Contact, a choice of the CRM's setup. */
    personObject: z.enum(['PersonAccount', 'Contact']).default('Contact'),
    /** The CRM object structures become. */
    accountObject: z.string().min(1).default('Account'),
    /** The CRM object relays become, linked to their structure's account. */
    relayObject: z.string().min(1).default('Contact'),
    rules: z.array(mappingRuleSchema).min(1, 'expected at least one rule'),
  })
  .strict();
export type MappingConfig = z.infer<typeof mappingConfigSchema>;
export type MappingConfigInput = z.input<typeof mappingConfigSchema>;
