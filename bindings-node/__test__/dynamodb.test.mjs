// new Engine({ store: 'dynamodb://…' }) from the npm package, against the DynamoDB-compatible
// server (moto) that scripts/test.sh starts on 127.0.0.1 and names in
// SOCIALLENS_DYNAMODB_ENDPOINT. Without it the tests skip, except under CI, where it fails.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Engine } = require('../index.js')

const ENDPOINT = process.env.SOCIALLENS_DYNAMODB_ENDPOINT
if (!ENDPOINT && process.env.CI) throw new Error('SOCIALLENS_DYNAMODB_ENDPOINT is not set under CI')
const skip = ENDPOINT ? false : 'no DynamoDB endpoint (SOCIALLENS_DYNAMODB_ENDPOINT)'
// The standard AWS credential chain: moto accepts any static key.
process.env.AWS_ACCESS_KEY_ID ??= 'test'
process.env.AWS_SECRET_ACCESS_KEY ??= 'test'

const url = () =>
  `dynamodb://node-${randomUUID().slice(0, 12)}?region=us-east-1&endpoint=${ENDPOINT}&create=true`

test('an engine over DynamoDB shares profiles with another engine on the table', { skip }, async () => {
  const store = url()
  const a = new Engine({ store })
  assert.equal((await a.recordLike('ana', 'p1', { interests: ['surfboard', 'beach'] })).status, 'applied')
  await a.recordLike('ana', 'p2', { interests: ['surfboard'] })
  const b = new Engine({ store })
  const got = Object.fromEntries((await b.interests('ana')).map((i) => [i.term, i.count]))
  assert.deepEqual(got, { surfboard: 2, beach: 1 })
  assert.equal((await b.unlike('ana', 'p2')).status, 'applied')
  assert.equal((await a.interests('ana')).find((i) => i.term === 'surfboard').count, 1)
  const report = await b.forgetUser('ana')
  assert.equal(report.interests, 2)
  assert.deepEqual(await a.interests('ana'), [])
})

test('stateless serving over DynamoDB', { skip }, async () => {
  const store = url()
  const writer = new Engine({ store })
  await writer.addAds([{ id: 'surf-1', advertiser: 'W', title: 'Boards', category: 'surf', interests: ['surfboard'] }])
  await writer.recordLike('ana', 'p1', { interests: ['surfboard', 'wave'] })
  await writer.recordLike('ben', 'p2', { interests: ['surfboard', 'wave'] })
  assert.equal((await writer.buildNeighbours(10)).users, 2)
  const server = new Engine({ store, serving: 'stateless' })
  assert.deepEqual((await server.similarUsers('ana')).map((p) => p.user), ['ben'])
  assert.deepEqual((await server.adsFor('ana')).map((m) => m.ad.id), ['surf-1'])
})

test('an unreachable DynamoDB endpoint is UNAVAILABLE', { skip }, async () => {
  const engine = new Engine({ store: 'dynamodb://deadtable?region=us-east-1&endpoint=http://127.0.0.1:9&deadline=1' })
  await assert.rejects(engine.interests('ana'), (e) => e.code === 'UNAVAILABLE')
  assert.throws(() => new Engine({ store: 'dynamodb://deadtable?create=maybe' }), (e) => e.code === 'INVALID_INPUT')
})
