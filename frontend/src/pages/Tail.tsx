export function TailPage() {
  return <p className="empty">Coming next.</p>;
}
