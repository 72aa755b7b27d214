/** A table's header row: `columns`, then the `wide` ones, which a narrow screen leaves out. */
export function TableHead({ columns, wide = [] }: { columns: string[]; wide?: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c}>{c}</th>
        ))}
        {wide.map((c) => (
          <th key={c} className="wide">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}
