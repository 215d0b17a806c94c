// axe-core (npm) on the page as it stands: every WCAG 2.0/2.1/2.2 A and AA rule. A violation
// fails the script with the rule, what it means, and where. Run on every screen before its
// screenshot is taken.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'];

export async function axeCheck(page, name) {
  // Evaluated through the DevTools protocol: the pages' CSP (scripts from our origin only)
  // stays as it is.
  await page.evaluate(AXE);
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }),
    TAGS,
  );
  if (result.violations.length > 0) {
    const found = result.violations
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
      .join('\n  ');
    throw new Error(`axe-core found WCAG violations on ${name} (${page.url()}):\n  ${found}`);
  }
}
