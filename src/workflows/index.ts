/** The workflows the worker registers (this file is the bundle's entry point). */
export * from './outbound-sync';
export * from './inbound-sync';
export * from './outbound-sync-settings';
export * from './mass-update';
export * from './initial-import';
export * from './initial-import-settings';
