// Catalog and recommendations through Node. The LLM is a local test server speaking the
// OpenAI chat-completions protocol: a scripted stand-in for the remote API.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Engine, OpenAiCompatible } = require('../index.js')

const CATALOG = [
  { id: 'surf-wax', title: 'Surfboard wax', category: 'surf', keywords: ['surfboard', 'wave'], price: 7.5 },
  { id: 'dog-bed', title: 'Dog bed', category: 'pets', keywords: ['dog', 'bed'] },
  { id: 'knife', title: "Chef's knife", category: 'kitchen' },
]

function chatServer(script) {
  const requests = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      requests.push({ path: req.url, headers: req.headers, body: JSON.parse(body) })
      const [status, headers, payload] = script.shift() ?? [400, {}, { error: { message: 'script exhausted' } }]
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(payload))
    })
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, requests, baseUrl: `http://127.0.0.1:${server.address().port}/v1` })),
  )
}

const answer = (content) => [200, {}, { choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }] }]

test('catalog from objects and files, offline recommendations', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sociallens-rec-'))
  const engine = new Engine({ store: `sqlite://${join(dir, 'rec.db')}` })
  assert.equal(await engine.addProducts(CATALOG), 3)
  const csv = join(dir, 'more.csv')
  writeFileSync(csv, 'id,title,category\nkite,Stunt kite,outdoor\n')
  assert.equal(await engine.addProducts(csv), 1)
  assert.equal((await engine.products()).length, 4)
  await assert.rejects(engine.addProducts([{ id: 'ok', title: 'Fine' }, { id: '', title: 'No id' }]), { code: 'INVALID_INPUT' })
  assert.equal((await engine.products()).length, 4)
  assert.equal(await engine.removeProduct('kite'), true)
  assert.deepEqual(await engine.recommendProducts('nobody'), [])
  await engine.recordLike('u', 'p1', { caption: 'a man riding a wave on top of a surfboard' })
  await engine.recordLike('u', 'p2', { caption: 'a dog laying on a bed' })
  const recs = await engine.recommendProducts('u', 3)
  const wax = recs.find((r) => r.product?.id === 'surf-wax')
  assert.ok(wax && wax.inCatalog && wax.source === 'catalog')
  assert.deepEqual([...wax.matchedInterests].sort(), ['surfboard', 'wave'])
  assert.ok(!recs.some((r) => r.product?.id === 'knife'))
})

test('LLM ideas grounded in the catalog; rate limits rejected with a code', async () => {
  const ideas = {
    products: [
      { name: 'Surfboard wax', category: 'surf', reason: 'grip', matched_interests: ['surfboard'] },
      { name: 'Jet ski', category: 'boats', reason: 'speed', matched_interests: ['wave'] },
    ],
  }
  const { server, requests, baseUrl } = await chatServer([answer(JSON.stringify(ideas)), [429, { 'retry-after': '30' }, { error: { message: 'slow down' } }]])
  try {
    const llm = new OpenAiCompatible({ baseUrl, model: 'test-model', apiKey: 'sk-node-SECRET', deadlineMs: 2000 })
    const engine = new Engine({ store: 'memory://' }, llm)
    await engine.addProducts(CATALOG)
    await engine.recordLike('u', 'p1', { caption: 'a man riding a wave on top of a surfboard' })
    const recs = await engine.recommendProducts('u', 2)
    assert.equal(recs[0].product.id, 'surf-wax')
    assert.equal(recs[0].source, 'llm')
    assert.equal(recs[1].name, 'Jet ski')
    assert.equal(recs[1].inCatalog, false)
    assert.equal(requests[0].headers.authorization, 'Bearer sk-node-SECRET')
    // The first answer is cached by the engine: the second call asks again only for k=3.
    await assert.rejects(
      engine.recommendProducts('u', 3),
      (e) => e.code === 'RATE_LIMITED' && e.retryAfter === 30 && !e.message.includes('SECRET'),
    )
  } finally {
    server.close()
  }
  assert.throws(() => new OpenAiCompatible({ baseUrl: 'ftp://x', model: 'm' }), { code: 'INVALID_INPUT' })
})
