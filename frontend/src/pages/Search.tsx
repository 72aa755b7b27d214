export function SearchPage() {
  return <p className="empty">Coming next.</p>;
}
