import fs from "node:fs";
import path from "node:path";
import Image from "next/image";
import Link from "next/link";

// Read at build time: this page is prerendered, so the marker is baked into
// its HTML. Change marker.txt and rebuild to get a visibly different deployment.
const marker = fs.readFileSync(path.join(process.cwd(), "marker.txt"), "utf8").trim();

export default function Home() {
  return (
    <main>
      <h1>Hello from Next.js on ownstak</h1>
      <p id="marker">{`marker: ${marker}`}</p>
      <Image src="/ownstak.png" alt="ownstak logo" width={64} height={64} priority />
      <ul>
        <li><Link href="/stream">streaming page</Link></li>
        <li><Link href="/action">server action</Link></li>
        <li><a href="/api/hello">route handler</a></li>
        <li><a href="/old">redirect</a></li>
      </ul>
    </main>
  );
}
