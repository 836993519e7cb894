/**
 * sql.ts — SQL text shared by the modules that write several rows at once.
 */

/** `count` copies of a VALUES row such as "(?, ?, 1)": one multi-row statement instead of one a row. */
export const valuesRows = (count: number, row: string): string => Array.from({ length: count }, () => row).join(", ");
