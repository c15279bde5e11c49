import { redirect } from "next/navigation";

// A server action. The form works without JavaScript too (progressive
// enhancement): the browser posts it and Next.js runs the action. A page
// loaded before a redeploy keeps posting to the deployment it came from
// (skew protection), so its action is found there.
async function greet(formData) {
  "use server";
  const name = String(formData.get("name") ?? "").slice(0, 40);
  redirect(`/action?greeted=${encodeURIComponent(name)}`);
}

export default async function ActionPage({ searchParams }) {
  const { greeted } = await searchParams;
  return (
    <main>
      <h1>Server action</h1>
      {greeted ? <p id="greeting">{`hello, ${greeted}`}</p> : null}
      <form action={greet}>
        <input name="name" defaultValue="ownstak" />
        <button type="submit">greet</button>
      </form>
    </main>
  );
}
