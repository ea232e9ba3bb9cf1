/**
 * A vitest reporter that ends the run with one line CI reads: `N passed, N failed` (and
 * `, N skipped` when tests were skipped), after one `skipped <test>: <note>` line per test
 * skipped with a note (`context.skip(note)`).
 */

import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const notes: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") {
          passed += 1;
        } else if (state === "failed") {
          failed += 1;
        } else {
          skipped += 1;
          const result = test.result();
          if (result.state === "skipped" && result.note !== undefined) {
            notes.push(`skipped ${test.fullName}: ${result.note}\n`);
          }
        }
      }
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) {
        failed += 1;
      }
    }
    const tail = skipped > 0 ? `, ${skipped} skipped` : "";
    process.stdout.write(notes.join(""));
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
  }
}
