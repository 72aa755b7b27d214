import { setParams } from "../lib/route";

export interface Option {
  value: string;
  label: string;
}

/** A labelled choice kept in the address (`params`) as `name`: `empty` (the parameter left
 * out) first, then `options`. */
export function Choice({
  label,
  name,
  params,
  empty = "any",
  options,
  disabled,
  testId,
  title,
}: {
  label: string;
  name: string;
  params: URLSearchParams;
  empty?: string;
  options: Option[] | undefined;
  disabled?: boolean;
  testId?: string;
  title?: string;
}) {
  return (
    <label>
      {label}{" "}
      <select
        value={params.get(name) ?? ""}
        disabled={disabled}
        data-testid={testId}
        title={title}
        onChange={(e) => setParams({ [name]: e.target.value })}
      >
        <option value="">{empty}</option>
        {options?.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Each value as its own label. */
export function asOptions(values: readonly string[], label = (v: string) => v): Option[] {
  return values.map((v) => ({ value: v, label: label(v) }));
}

/** Files as options, by name. */
export function fileOptions(files: { id: string; name: string }[] | undefined): Option[] | undefined {
  return files?.map((f) => ({ value: f.id, label: f.name }));
}
