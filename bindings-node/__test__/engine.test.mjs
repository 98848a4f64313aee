// The Engine through Node, on a real SQLite file.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Engine, __panicForTests } = require('../index.js')

const freshDb = () => join(mkdtempSync(join(tmpdir(), 'sociallens-')), 'test.db')

test('likes and uploads build a decaying profile', async () => {
  const engine = new Engine({ store: `sqlite://${freshDb()}` })
  const out = await engine.recordLike('u1', 'p1', { caption: 'a dog on a beach', interests: ['Dog', 'beach', 'dog'] })
  assert.equal(out.status, 'applied')
  assert.deepEqual(out.interests, ['dog', 'beach'])
  assert.equal(out.caption, 'a dog on a beach')
  await engine.recordUpload('u1', 'p2', { interests: ['dog'] })
  const top = await engine.interests('u1', 5)
  assert.deepEqual(top.map((i) => i.term), ['dog', 'beach'])
  assert.ok(Math.abs(top[0].weight - 3) < 1e-6)
  assert.equal(top[0].count, 2)
  assert.ok(top[0].lastSeen instanceof Date)
  assert.deepEqual((await engine.interests('u1', 1)).map((i) => i.term), ['dog'])
})

test('a month-old like weighs half', async () => {
  const engine = new Engine({ store: 'memory://' })
  const monthAgo = new Date(Date.now() - 30 * 86400 * 1000)
  await engine.recordLike('u', 'old', { interests: ['vintage'], at: monthAgo })
  const [vintage] = await engine.interests('u')
  assert.ok(Math.abs(vintage.weight - 0.5) < 1e-3, String(vintage.weight))
  const noDecay = new Engine({ store: 'memory://', halfLifeDays: Infinity, likeWeight: 3 })
  await noDecay.recordLike('u', 'old', { interests: ['x'], at: new Date(0) })
  assert.equal((await noDecay.interests('u'))[0].weight, 3)
})

test('profiles survive a new engine on the same file', async () => {
  const db = freshDb()
  await new Engine({ store: `sqlite://${db}` }).recordLike('u', 'p', { interests: ['surfboard'] })
  const again = new Engine({ store: `sqlite://${db}` })
  assert.deepEqual((await again.interests('u')).map((i) => i.term), ['surfboard'])
  assert.deepEqual((await again.recordLike('v', 'p')).interests, ['surfboard'])
})

test('replays, double likes and unlikes', async () => {
  const engine = new Engine({ store: `sqlite://${freshDb()}` })
  assert.equal((await engine.recordLike('u', 'p', { interests: ['kite'], eventId: 'e1' })).status, 'applied')
  assert.equal((await engine.recordLike('u', 'p', { interests: ['kite'], eventId: 'e1' })).status, 'duplicate')
  assert.equal((await engine.recordLike('u', 'p', { eventId: 'e2' })).status, 'already_active')
  const un = await engine.unlike('u', 'p', { eventId: 'e3' })
  assert.equal(un.status, 'applied')
  assert.deepEqual(un.deltas, [{ term: 'kite', weight: -1 }])
  assert.deepEqual(await engine.interests('u'), [])
  assert.equal((await engine.unlike('u', 'p')).status, 'nothing_to_undo')
})

test('concurrent likes from many promises lose nothing', async () => {
  const engine = new Engine({ store: `sqlite://${freshDb()}` })
  await Promise.all(
    Array.from({ length: 500 }, (_, i) => engine.recordLike('crowd', `post-${i}`, { interests: ['dog'] })),
  )
  const [dog] = await engine.interests('crowd')
  assert.equal(dog.count, 500)
})

test('forgetUser removes the user and nobody else', async () => {
  const engine = new Engine({ store: `sqlite://${freshDb()}` })
  await engine.recordUpload('gone', 'gp', { interests: ['cat'] })
  await engine.recordLike('gone', 'op', { interests: ['bike'] })
  await engine.recordLike('stays', 'gp')
  const report = await engine.forgetUser('gone')
  assert.ok(report.total >= 5, JSON.stringify(report))
  assert.deepEqual(await engine.interests('gone'), [])
  assert.deepEqual((await engine.interests('stays')).map((i) => i.term), ['cat'])
})

test('errors carry a stable code and lose nothing', async () => {
  const engine = new Engine({ store: `sqlite://${freshDb()}` })
  await engine.recordLike('u', 'p', { interests: ['x'], eventId: 'e' })
  await assert.rejects(engine.recordLike('', 'p', { interests: ['x'] }), (e) => e instanceof Error && e.code === 'INVALID_INPUT')
  await assert.rejects(engine.recordLike('v', 'q', { interests: ['y'], eventId: 'e' }), { code: 'CONFLICT' })
  await assert.rejects(engine.recordLike('u', 'p2', { image: Buffer.from('no captioner') }), { code: 'CONFIG' })
  assert.deepEqual((await engine.interests('u')).map((i) => i.term), ['x'])
  assert.throws(() => new Engine({ store: 'postgres://x' }), { code: 'INVALID_INPUT' })
  assert.throws(() => new Engine({ store: 'dynamodb://t' }), { code: 'INVALID_INPUT' }) // table names are 3-255 characters
  assert.throws(() => new Engine({ store: 'memory://', halfLifeDays: 0 }), { code: 'INVALID_INPUT' })
  const junk = freshDb()
  writeFileSync(junk, 'not a database'.repeat(10))
  assert.throws(() => new Engine({ store: `sqlite://${junk}` }), { code: 'STORAGE' })
  assert.throws(() => new Engine({ store: 42 }), /into rust type `String`/)
})

test('a Rust panic rejects with INTERNAL and the process survives', async () => {
  await assert.rejects(__panicForTests('boom'), (e) => e.code === 'INTERNAL' && /boom/.test(e.message))
  const engine = new Engine({ store: 'memory://' })
  await engine.recordLike('u', 'p', { interests: ['alive'] })
  assert.equal((await engine.interests('u'))[0].term, 'alive')
})

test("the README's JavaScript quickstart runs", async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])
  assert.ok(blocks.length > 0, 'README has no JavaScript example')
  const dir = mkdtempSync(join(tmpdir(), 'sociallens-readme-'))
  for (const block of blocks) {
    const file = join(dir, 'quickstart.cjs')
    // The README says require('sociallens'); here the package is this directory.
    writeFileSync(file, block.replaceAll("require('sociallens')", `require(${JSON.stringify(join(import.meta.dirname, '..'))})`))
    const { execFileSync } = await import('node:child_process')
    execFileSync(process.execPath, [file], { cwd: dir, stdio: 'pipe' })
  }
})

test('extractInterests: default mode, TextBlob parity with the NLTK model, typed errors', async () => {
  const { extractInterests } = require('../index.js')
  assert.deepEqual(
    await extractInterests(['a close up of two giraffes next to a red fire hydrant', '', 'a man holding a cell phone holding a cell phone']),
    [['giraffe', 'fire hydrant'], [], ['cell phone']],
  )
  const fixtures = new URL('../../../shared/fixtures/nouns/', import.meta.url)
  const rows = readFileSync(new URL('textblob_reference.jsonl', fixtures), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  const got = await extractInterests(rows.map((r) => r.text), 'textblob', new URL('nltk-perceptron', fixtures).pathname)
  assert.deepEqual(got, rows.map((r) => r.nouns))
  assert.throws(() => extractInterests(['a dog'], 'spacy'), { code: 'INVALID_INPUT' })
  assert.throws(() => extractInterests(['a dog'], 'textblob', '/no/such/dir'), { code: 'MODEL' })
})

test('the engine extracts interests from captions', async () => {
  const engine = new Engine({ store: 'memory://' })
  assert.deepEqual((await engine.recordLike('u', 'p', { caption: 'a teddy bear sitting on a bed' })).interests, ['teddy bear', 'bed'])
  const strict = new Engine({ store: 'memory://', extractor: 'none' })
  await assert.rejects(strict.recordLike('u', 'p', { caption: 'a cat' }), { code: 'CONFIG' })
  assert.throws(() => new Engine({ store: 'memory://', extractor: 'spacy' }), { code: 'INVALID_INPUT' })
})
