/**
 * Contact property definitions as Mailjet's `/contactmetadata` describes them, and which JSON values fit
 * each datatype. Pure: the store and the routes both use it, and its rules are tested on their own.
 */

export const datatypes = ['str', 'int', 'float', 'datetime', 'bool'] as const;
export type Datatype = (typeof datatypes)[number];

/** `historic` is Mailjet's legacy timestamped kind; contact writes only take `static` properties. */
export const namespaces = ['static', 'historic'] as const;
export type NameSpace = (typeof namespaces)[number];

// Mailjet's own example is `2018-01-01T00:00:00`, without an offset, so the offset is optional here.
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/i;

/**
 * Whether `value` may be stored in a property of `datatype`. `null` always fits: it clears the value.
 *
 * Mailjet does not document coercion, so values must already have the JSON type of the definition: no
 * `"30"` for an int, no `"true"` for a bool. A client that passes here sends what Mailjet's own examples
 * send (`"Value": 30`), which Mailjet accepts; one that relies on coercion would be relying on the
 * undocumented. Datetimes are the exception Mailjet documents: an RFC 3339 string or Unix seconds.
 */
export function valueFits(datatype: Datatype, value: unknown): boolean {
  if (value === null) return true;
  switch (datatype) {
    case 'str':
      return typeof value === 'string';
    case 'int':
      return Number.isSafeInteger(value);
    case 'float':
      return typeof value === 'number' && Number.isFinite(value);
    case 'bool':
      return typeof value === 'boolean';
    case 'datetime':
      if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0;
      return typeof value === 'string' && rfc3339.test(value) && Number.isFinite(Date.parse(value));
  }
}

export function isDatatype(value: unknown): value is Datatype {
  return datatypes.includes(value as Datatype);
}

export function isNameSpace(value: unknown): value is NameSpace {
  return namespaces.includes(value as NameSpace);
}
