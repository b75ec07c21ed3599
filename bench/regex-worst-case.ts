/**
 * The worst case of every regular expression that sees client input: each one over every
 * adversarial 32 KB text of test/hostile/regex-cases.ts, the fastest of five runs per text, and
 * the slowest text per pattern. Linear patterns stay near a millisecond or below; the quadratic
 * url-password pattern this replaced took 529 ms on 32,000 letters.
 *
 *   npx tsx bench/regex-worst-case.ts
 */
import { ADVERSARIAL, SIZE, SUBJECTS, fastestMs } from '../test/hostile/regex-cases.ts';

const rows = SUBJECTS.map((subject) => {
  let worst = { text: '', ms: 0 };
  for (const [text, input] of Object.entries(ADVERSARIAL)) {
    const ms = fastestMs(subject, input, 5);
    if (ms >= worst.ms) worst = { text, ms };
  }
  return { subject: subject.name, ...worst };
});

const width = Math.max(...rows.map((r) => r.subject.length));
console.log(
  `worst case per pattern over ${Object.keys(ADVERSARIAL).length} adversarial texts of ${SIZE} characters\n`,
);
for (const r of rows.sort((a, b) => b.ms - a.ms)) {
  console.log(`${r.subject.padEnd(width)}  ${r.ms.toFixed(2).padStart(8)} ms  (${r.text})`);
}
