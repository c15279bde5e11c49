export const metadata = {
  title: "ownstak Next.js example",
  description: "A tiny Next.js app deployed with ownstak.",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
