/** Levenshtein distance: the fewest single-character edits that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]
}

/**
 * The known words nearest to `word` for a "did you mean": those within `max` edits (default: a
 * third of the word, at least 2), or that start with it; nearest first, at most three.
 */
export function nearest(word: string, known: Iterable<string>, max = Math.max(2, Math.floor(word.length / 3))): string[] {
  const scored = [...new Set(known)]
    .map((k) => ({d: k.startsWith(word) && word.length >= 2 ? Math.min(editDistance(word, k), 1) : editDistance(word, k), k}))
    .filter(({d}) => d <= max)
    .sort((a, b) => a.d - b.d || a.k.localeCompare(b.k))
  return scored
    .filter(({d}) => d === scored[0].d)
    .slice(0, 3)
    .map(({k}) => k)
}
