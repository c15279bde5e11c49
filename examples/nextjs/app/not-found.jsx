export default function NotFound() {
  return (
    <main>
      <h1>Not found</h1>
      <p id="not-found">This page does not exist (ownstak example).</p>
    </main>
  );
}
