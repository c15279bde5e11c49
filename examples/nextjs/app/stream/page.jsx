import { Suspense } from "react";

// Rendered per request, so the Suspense fallback is streamed before the slow part.
export const dynamic = "force-dynamic";

async function Slow() {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return <p id="slow">slow content arrived</p>;
}

export default function StreamPage() {
  return (
    <main>
      <h1>Streaming</h1>
      <Suspense fallback={<p id="fallback">loading…</p>}>
        <Slow />
      </Suspense>
    </main>
  );
}
