// Export and import through Node, on real SQLite files.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Engine } = require('../index.js')

const freshDir = () => mkdtempSync(join(tmpdir(), 'sociallens-export-'))

async function populated (dir) {
  const engine = new Engine({ store: `sqlite://${join(dir, 'source.db')}` })
  await engine.addAds([{ id: 'ad-surf', advertiser: 'Acme', title: 'Boards', category: 'Surf', interests: ['surfboard'] }])
  for (let i = 0; i < 12; i++) {
    await engine.recordUpload(`user-${i % 4}`, `post-${i}`, { caption: `a cat ${i}`, interests: ['cat', `topic-${i % 3}`] })
    await engine.recordImpression(`user-${i % 4}`, 'ad-surf')
    if (i % 3 === 0) await engine.recordClick(`user-${i % 4}`, 'ad-surf')
  }
  return engine
}

test('export writes every dataset and a manifest; importFiles restores, twice without change', async () => {
  const dir = freshDir()
  const engine = await populated(dir)
  const paths = await engine.export({ dir: join(dir, 'out') })
  assert.deepEqual(Object.keys(paths).sort(), ['ad_events', 'audiences', 'captions', 'catalog', 'events', 'interests', 'neighbours', 'opt_outs', 'posts'])
  for (const p of Object.values(paths)) assert.ok(existsSync(p), p)
  const manifest = JSON.parse(readFileSync(join(dir, 'out', 'manifest.json'), 'utf8'))
  assert.equal(manifest.format, 'sociallens-export')
  assert.equal(manifest.datasets.events.rows, 12 + 12 + 4)

  const fresh = new Engine({ store: `sqlite://${join(dir, 'restored.db')}` })
  const reports = await fresh.importFiles({ path: join(dir, 'out') })
  const events = reports.find((r) => r.dataset === 'events')
  assert.deepEqual([events.rows, events.applied, events.unchanged, events.conflicts], [28, 28, 0, 0])
  assert.deepEqual(
    (await fresh.interests('user-1', 10)).map((i) => [i.term, i.count]),
    (await engine.interests('user-1', 10)).map((i) => [i.term, i.count])
  )
  const again = await fresh.importFiles({ path: join(dir, 'out') })
  for (const r of again) assert.deepEqual([r.applied, r.unchanged], [0, r.rows])
})

test('NDJSON export and typed errors for bad files', async () => {
  const dir = freshDir()
  const engine = await populated(dir)
  const paths = await engine.export({ dir: join(dir, 'nd'), datasets: ['events'], format: 'ndjson' })
  assert.deepEqual(Object.keys(paths), ['events'])
  const lines = readFileSync(paths.events, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(lines.length, 28)
  assert.match(lines[0].at, /Z$/)
  const bad = join(dir, 'bad.ndjson')
  writeFileSync(bad, '{"user":"u","category":"Surf"}\n')
  const fresh = new Engine({ store: `sqlite://${join(dir, 'x.db')}` })
  await assert.rejects(fresh.importFiles({ path: bad, dataset: 'opt_outs' }), (e) => e.code === 'INVALID_INPUT' && /column at/.test(e.message))
  await assert.rejects(fresh.importFiles({ path: paths.events, dataset: 'interests' }), { code: 'INVALID_INPUT' })
  await assert.rejects(engine.export({ dir: join(dir, 'y'), format: 'csv' }), { code: 'INVALID_INPUT' })
})
