import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";

export function GET() {
  const response = NextResponse.json({ hello: "world", runtime: "ownstak" });
  response.cookies.set("session", "abc123", { path: "/", httpOnly: true });
  response.cookies.set("theme", "dark", { path: "/", maxAge: 3600 });
  return response;
}
