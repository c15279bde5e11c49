/** @type {import('next').NextConfig} */
const nextConfig = {
  // A plain `next build` produces `.next/standalone`; `ownstak build` forces
  // standalone output itself, so it does not depend on this line.
  output: "standalone",
  async redirects() {
    return [{ source: "/old", destination: "/", permanent: false }];
  },
  async headers() {
    return [{ source: "/:path*", headers: [{ key: "x-from-config", value: "yes" }] }];
  },
};

export default nextConfig;
