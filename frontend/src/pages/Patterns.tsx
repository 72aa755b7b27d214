export function PatternsPage() {
  return <p className="empty">Coming next.</p>;
}
