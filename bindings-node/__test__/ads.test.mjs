// Ads, similar users, audiences, impressions, clicks and click reports through Node, on a
// real SQLite file.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Engine } = require('../index.js')

const tmp = () => mkdtempSync(join(tmpdir(), 'sociallens-ads-'))
const sqlite = (opts = {}) => new Engine({ store: `sqlite://${join(tmp(), 'ads.db')}`, ...opts })
const HOUR = 3600 * 1000
const DAY = 24 * HOUR

const surfAd = (id, extra = {}) => ({
  id,
  advertiser: 'WaveCo',
  title: 'Boards for every wave',
  category: 'Surf',
  interests: ['surfboards', 'wetsuit'],
  ...extra,
})
const ids = (matches) => matches.map((m) => m.ad.id).sort()

test('ads round-trip as typed objects, from arrays and files', async () => {
  const engine = sqlite()
  const start = new Date(Date.now() - DAY)
  assert.equal(
    await engine.addAds([
      surfAd('a1', { start, frequencyCap: { perDay: 3 }, landingUrl: 'https://example.com/a1' }),
      { id: 'a2', advertiser: 'Chefs', title: 'Knives', category: 'kitchen', interests: ['Kitchen Knife'] },
    ]),
    2,
  )
  const a1 = await engine.ad('a1')
  assert.equal(a1.category, 'surf')
  assert.deepEqual(a1.interests, ['surfboards', 'wetsuit'])
  assert.deepEqual(a1.excludedCategories, [])
  assert.equal(a1.status, 'active')
  assert.ok(a1.start instanceof Date && a1.start.getTime() === start.getTime())
  assert.equal(a1.end, undefined)
  assert.deepEqual(a1.frequencyCap, { perDay: 3 })
  assert.equal(a1.landingUrl, 'https://example.com/a1')
  assert.equal(await engine.ad('nope'), null)

  const dir = tmp()
  const jsonl = join(dir, 'ads.jsonl')
  writeFileSync(jsonl, JSON.stringify({ id: 'a3', advertiser: 'Paws', title: 'Dog beds', category: 'pets', interests: ['dog'] }) + '\n')
  assert.equal(await engine.addAds(jsonl), 1)
  const csv = join(dir, 'ads.csv')
  writeFileSync(csv, 'id,advertiser,title,category,interests,cap_per_day\na4,Peaks,Boots,hiking,boot;trail,2\n')
  assert.equal(await engine.addAds(csv), 1)
  assert.deepEqual((await engine.ad('a4')).frequencyCap, { perDay: 2 })
  assert.deepEqual((await engine.ads()).map((a) => a.id), ['a1', 'a2', 'a3', 'a4'])
})

test('explanations name the matched interests; lookalikes count similar users who clicked', async () => {
  const engine = sqlite()
  await engine.addAds([
    surfAd('boards'),
    { id: 'knives', advertiser: 'Chefs', title: 'Knives', category: 'kitchen', interests: ['kitchen knife'] },
    { id: 'neo', advertiser: 'Neo', title: 'Neoprene', category: 'surf gear', interests: ['neoprene'] },
  ])
  await engine.recordLike('ana', 'p1', { interests: ['surfboard', 'beach', 'wave'] })
  await engine.recordLike('ben', 'p2', { interests: ['surfboard', 'beach', 'wave'] })
  await engine.recordLike('cleo', 'p3', { interests: ['cat'] })
  await engine.recordClick('ben', 'neo')

  const peers = await engine.similarUsers('ana', 5)
  assert.deepEqual(peers.map((p) => p.user), ['ben'])
  assert.ok(peers[0].score > 0.5 && peers[0].score <= 1 + 1e-9)
  assert.ok(peers[0].shared.includes('surfboard'))
  assert.deepEqual(await engine.similarUsers('nobody'), [])

  const ads = await engine.adsFor('ana', 5)
  assert.deepEqual(ids(ads), ['boards', 'neo'])
  const boards = ads.find((m) => m.ad.id === 'boards')
  assert.equal(boards.ad.title, 'Boards for every wave')
  assert.equal(boards.matched[0].interest, 'surfboard')
  assert.equal(boards.matched[0].adTerm, 'surfboards')
  assert.ok(['lemma', 'exact', 'compound', 'semantic'].includes(boards.matched[0].kind))
  assert.ok(boards.matched[0].strength > 0 && boards.matched[0].weight > 0)
  assert.ok(boards.interestScore > 0)
  const neo = ads.find((m) => m.ad.id === 'neo')
  assert.equal(neo.similarUsersEngaged, 1)
  assert.ok(neo.lookalikeScore > 0)
  assert.deepEqual(neo.matched, [])
  assert.ok(Math.abs(neo.score - (neo.interestScore + 0.5 * neo.lookalikeScore)) < 1e-9)
  assert.deepEqual(await engine.adsFor('cleo'), [])

  // The lookalike weight comes from the engine's options.
  const noLookalike = sqlite({ lookalikeWeight: 0 })
  await noLookalike.addAds([surfAd('boards')])
  await noLookalike.recordLike('ana', 'p1', { interests: ['surfboard'] })
  assert.equal((await noLookalike.adsFor('ana'))[0].score, (await noLookalike.adsFor('ana'))[0].interestScore)
})

test('frequency caps and dates are honoured', async () => {
  const engine = sqlite()
  const now = Date.now()
  await engine.addAds([
    surfAd('daily', { frequencyCap: { perDay: 2 } }),
    surfAd('lifetime', { frequencyCap: { lifetime: 3 } }),
    surfAd('later', { start: new Date(now + DAY) }),
    surfAd('over', { start: new Date(now - 2 * DAY), end: new Date(now - DAY) }),
  ])
  await engine.recordLike('ana', 'p', { interests: ['surfboard'] })
  assert.deepEqual(ids(await engine.adsFor('ana')), ['daily', 'lifetime'])

  // Two impressions yesterday-ish do not count against today's cap; two now do.
  await engine.recordImpression('ana', 'daily', { at: new Date(now - 30 * HOUR) })
  await engine.recordImpression('ana', 'daily', { at: new Date(now - 26 * HOUR) })
  assert.deepEqual(ids(await engine.adsFor('ana')), ['daily', 'lifetime'])
  await engine.recordImpression('ana', 'daily')
  await engine.recordImpression('ana', 'daily', { eventId: 'imp-x' })
  // A replayed impression is not a third one.
  assert.equal((await engine.recordImpression('ana', 'daily', { eventId: 'imp-x' })).status, 'duplicate')
  assert.deepEqual(ids(await engine.adsFor('ana')), ['lifetime'])

  // A lifetime cap counts impressions of any age.
  for (let i = 0; i < 3; i++) await engine.recordImpression('ana', 'lifetime', { at: new Date(now - (10 + i) * DAY) })
  assert.deepEqual(await engine.adsFor('ana'), [])
  // Caps are per user.
  await engine.recordLike('ben', 'p')
  assert.deepEqual(ids(await engine.adsFor('ben')), ['daily', 'lifetime'])
})

test('pause, resume and remove', async () => {
  const engine = sqlite()
  await engine.addAds([surfAd('a1'), surfAd('a2')])
  await engine.recordLike('ana', 'p', { interests: ['surfboard'] })
  await engine.pauseAd('a1')
  assert.equal((await engine.ad('a1')).status, 'paused')
  assert.deepEqual(ids(await engine.adsFor('ana')), ['a2'])
  await engine.pauseAd('a1') // already paused: nothing to do
  await engine.resumeAd('a1')
  assert.deepEqual(ids(await engine.adsFor('ana')), ['a1', 'a2'])

  assert.equal(await engine.removeAd('a2'), true)
  assert.equal(await engine.removeAd('a2'), false)
  assert.equal(await engine.removeAd('never'), false)
  assert.equal((await engine.ad('a2')).status, 'removed')
  assert.deepEqual((await engine.ads()).map((a) => a.id), ['a1'])
  assert.deepEqual(ids(await engine.adsFor('ana')), ['a1'])
  await assert.rejects(engine.resumeAd('a2'), { code: 'CONFLICT' })
  await assert.rejects(engine.pauseAd('never'), { code: 'NOT_FOUND' })
  // A removed ad comes back only by adding it again.
  await engine.addAds([surfAd('a2')])
  assert.deepEqual(ids(await engine.adsFor('ana')), ['a1', 'a2'])
})

test('opt-outs are honoured by ads and audiences, and forgotten with the user', async () => {
  const engine = sqlite({ minAudienceSize: 1 })
  await engine.addAds([
    surfAd('boards'),
    { id: 'knives', advertiser: 'Chefs', title: 'Knives', category: 'kitchen', interests: ['knife'] },
  ])
  await engine.recordLike('ana', 'p1', { interests: ['surfboard', 'knife'] })
  await engine.recordLike('ben', 'p2', { interests: ['surfboard'] })
  assert.deepEqual(ids(await engine.adsFor('ana')), ['boards', 'knives'])

  await engine.setOptOut('ana', ' SURF ')
  assert.deepEqual(await engine.optOuts('ana'), ['surf'])
  assert.deepEqual(ids(await engine.adsFor('ana')), ['knives'])
  assert.deepEqual((await engine.audience({ ad: 'boards' })).map((m) => m.user), ['ben'])
  assert.equal(await engine.audienceSize({ ad: 'boards' }), 1)
  // Interest audiences have no category to opt out of.
  assert.deepEqual((await engine.audience({ interests: ['surfboard'] })).map((m) => m.user).sort(), ['ana', 'ben'])

  await engine.setOptOut('ana', 'surf', false)
  assert.deepEqual(await engine.optOuts('ana'), [])
  assert.deepEqual(ids(await engine.adsFor('ana')), ['boards', 'knives'])

  await engine.setOptOut('ana', 'kitchen')
  const report = await engine.forgetUser('ana')
  assert.equal(report.optOuts, 1)
  assert.deepEqual(await engine.optOuts('ana'), [])
})

test('audiences: best first with matched interests; small sizes are refused with PRIVACY', async () => {
  const engine = sqlite()
  await engine.addAds([surfAd('boards')])
  await engine.recordLike('ana', 'p1', { interests: ['surfboard'] })
  await engine.recordLike('ben', 'p2', { interests: ['surfboard', 'cat', 'dog', 'bird'] })
  await engine.recordLike('cleo', 'p3', { interests: ['cat'] })
  // Two surfers, under the default minimum of 50: neither listed nor counted.
  await assert.rejects(engine.audience({ interests: ['surfboards'] }, 10), (e) => e.code === 'PRIVACY' && !/ana|ben/.test(e.message))
  const internal = await engine.audienceBypassingPrivacyMinimum({ interests: ['surfboards'] }, 10)
  assert.deepEqual(internal.map((m) => m.user), ['ana', 'ben'])
  const small = sqlite({ minAudienceSize: 2 })
  await small.recordLike('ana', 'p1', { interests: ['surfboard'] })
  await small.recordLike('ben', 'p2', { interests: ['surfboard', 'cat', 'dog', 'bird'] })
  const who = await small.audience({ interests: ['surfboards'] }, 10)
  assert.deepEqual(who.map((m) => m.user), ['ana', 'ben'])
  assert.ok(who[0].score >= who[1].score && who[0].score <= 1)
  assert.deepEqual(who[0].matched, ['surfboard'])
  assert.deepEqual((await small.audience({ interests: ['surfboards'] }, 1)).map((m) => m.user), ['ana'])

  await assert.rejects(engine.audienceSize({ interests: ['surfboard'] }), (e) => e.code === 'PRIVACY' && /50/.test(e.message))
  await assert.rejects(engine.audienceSize({ ad: 'boards' }), { code: 'PRIVACY' })
  await assert.rejects(engine.audience({ ad: 'nope' }), { code: 'NOT_FOUND' })
  await assert.rejects(engine.audience({}), { code: 'INVALID_INPUT' })
  await assert.rejects(engine.audience({ interests: ['x'], ad: 'boards' }), { code: 'INVALID_INPUT' })
  await assert.rejects(engine.audienceSize({ interests: [] }), { code: 'INVALID_INPUT' })

  const crowd = sqlite({ minAudienceSize: 3 })
  await Promise.all(['u1', 'u2', 'u3'].map((u, i) => crowd.recordLike(u, `p${i}`, { interests: ['kite'] })))
  assert.equal(await crowd.audienceSize({ interests: ['kite'] }), 3)
  await crowd.forgetUser('u3')
  await assert.rejects(crowd.audienceSize({ interests: ['kite'] }), { code: 'PRIVACY' })
})

test('replayed click event ids do not double count', async () => {
  const engine = sqlite()
  await engine.addAds([surfAd('boards')])
  const first = await engine.recordClick('ana', 'boards', { eventId: 'click-1' })
  assert.equal(first.status, 'applied')
  assert.equal(first.eventId, 'click-1')
  assert.deepEqual(first.deltas.map((d) => [d.term, d.weight]), [['surfboards', 0.5], ['wetsuit', 0.5]])
  const again = await engine.recordClick('ana', 'boards', { eventId: 'click-1' })
  assert.equal(again.status, 'duplicate')
  assert.deepEqual(again.deltas, [])
  await Promise.all(Array.from({ length: 20 }, () => engine.recordClick('ana', 'boards', { eventId: 'click-2' })))
  const report = await engine.clickReport()
  assert.equal(report.clicks, 2)
  assert.equal(report.impressions, 0)
  assert.deepEqual(report.rows, [{ impressions: 0, clicks: 2 }])
  assert.equal((await engine.interests('ana'))[0].weight.toFixed(6), (1).toFixed(6))
  await assert.rejects(engine.recordClick('ana', 'nope'), { code: 'NOT_FOUND' })
})

// A deterministic pseudo-random sequence, so that a failure can be replayed.
function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

// The hour, ISO weekday (Monday 0) and date of an instant in a time zone, by Intl.
function local(at, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      weekday: 'short',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  )
  return {
    hour: Number(parts.hour),
    dayOfWeek: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.weekday),
    date: `${parts.year}-${parts.month}-${parts.day}`,
  }
}

function recount(events, keyOf) {
  const groups = new Map()
  for (const e of events) {
    const key = keyOf(e)
    const k = JSON.stringify(key)
    const g = groups.get(k) ?? { ...key, impressions: 0, clicks: 0 }
    g[e.kind === 'click' ? 'clicks' : 'impressions']++
    groups.set(k, g)
  }
  return [...groups.values()]
    .map((g) => (g.impressions > 0 ? { ...g, ctr: g.clicks / g.impressions } : g))
}

const sortRows = (rows, dims) =>
  [...rows].sort((a, b) => {
    for (const d of dims) if (a[d] !== b[d]) return a[d] < b[d] ? -1 : 1
    return 0
  })

test('clickReport rows equal a brute-force recount of the recorded events', async () => {
  const engine = sqlite()
  const ads = [
    surfAd('boards'),
    surfAd('wax', { interests: ['wax'] }),
    { id: 'knives', advertiser: 'Chefs', title: 'Knives', category: 'kitchen', interests: ['knife'] },
    { id: 'pans', advertiser: 'Chefs', title: 'Pans', category: 'kitchen', interests: ['pan'] },
    { id: 'beds', advertiser: 'Paws', title: 'Dog beds', category: 'pets', interests: ['dog'] },
  ]
  await engine.addAds(ads)
  const category = Object.fromEntries(ads.map((a) => [a.id, a.category.toLowerCase()]))
  // Ten days around the 2025 US daylight-saving change (9 March).
  const t0 = Date.UTC(2025, 2, 4)
  const rand = rng(42)
  const events = []
  for (let i = 0; i < 400; i++) {
    const ad = ads[Math.floor(rand() * ads.length)].id
    const user = `u${Math.floor(rand() * 25)}`
    const at = new Date(t0 + Math.floor(rand() * 10 * DAY))
    const kind = rand() < 0.3 ? 'click' : 'impression'
    events.push({ id: `e${i}`, ad, user, at, kind })
  }
  const record = (e) =>
    e.kind === 'click'
      ? engine.recordClick(e.user, e.ad, { eventId: e.id, at: e.at })
      : engine.recordImpression(e.user, e.ad, { eventId: e.id, at: e.at })
  for (let i = 0; i < events.length; i += 50) await Promise.all(events.slice(i, i + 50).map(record))
  // Replays of every tenth event, and a click on an ad that does not exist, add nothing.
  const replays = await Promise.all(events.filter((_, i) => i % 10 === 0).map(record))
  assert.ok(replays.every((r) => r.status === 'duplicate'))
  await assert.rejects(engine.recordClick('u1', 'ghost', { at: new Date(t0) }), { code: 'NOT_FOUND' })
  // A removed ad keeps its category in reports.
  await engine.removeAd('pans')

  const report = await engine.clickReport({ groupBy: ['category', 'hour'], timeZone: 'Asia/Tokyo' })
  assert.deepEqual(report.groupBy, ['category', 'hour'])
  assert.equal(report.timeZone, 'Asia/Tokyo')
  const expected = recount(events, (e) => ({ category: category[e.ad], hour: local(e.at, 'Asia/Tokyo').hour }))
  assert.deepEqual(report.rows, sortRows(expected, ['category', 'hour']))
  assert.equal(report.clicks, events.filter((e) => e.kind === 'click').length)
  assert.equal(report.impressions, events.length - report.clicks)
  assert.equal(report.ctr, report.clicks / report.impressions)
  // Tokyo is UTC+9: its hours are not UTC's.
  const utc = await engine.clickReport({ groupBy: ['category', 'hour'] })
  assert.equal(utc.timeZone, 'UTC')
  assert.notDeepEqual(utc.rows, report.rows)

  // Ad × date × day of week in a zone with daylight saving, over a half-open range.
  const start = new Date(t0 + 2 * DAY + 5 * HOUR)
  const end = new Date(t0 + 7 * DAY + 5 * HOUR)
  const ny = await engine.clickReport({ groupBy: ['ad', 'date', 'day_of_week'], start, end, timeZone: 'America/New_York' })
  const inRange = events.filter((e) => e.at >= start && e.at < end)
  const nyExpected = recount(inRange, (e) => {
    const l = local(e.at, 'America/New_York')
    return { ad: e.ad, date: l.date, dayOfWeek: l.dayOfWeek }
  })
  assert.deepEqual(ny.rows, sortRows(nyExpected, ['ad', 'date', 'dayOfWeek']))
  assert.equal(ny.clicks + ny.impressions, inRange.length)

  // No dimensions: one row of totals.
  const totals = await engine.clickReport({})
  assert.equal(totals.rows.length, 1)
  assert.equal(totals.rows[0].clicks, report.clicks)
  assert.deepEqual(Object.keys(totals.rows[0]).sort(), ['clicks', 'ctr', 'impressions'])
})

test('bad input rejects with INVALID_INPUT and changes nothing', async () => {
  const engine = sqlite()
  await engine.addAds([surfAd('ok')])
  const bad = (e) => e instanceof Error && e.code === 'INVALID_INPUT'
  await assert.rejects(engine.clickReport({ timeZone: 'Mars/Olympus_Mons' }), (e) => bad(e) && /time zone/.test(e.message))
  await assert.rejects(engine.clickReport({ groupBy: ['category', 'weather'] }), (e) => bad(e) && /weather/.test(e.message))
  await assert.rejects(engine.clickReport({ start: new Date(1000), end: new Date(0) }), bad)
  for (const ad of [
    { id: 'x', advertiser: 'a', title: '', category: 'c' },
    { id: '', advertiser: 'a', title: 't', category: 'c' },
    { id: 'x', advertiser: 'a', title: 't', category: '  ' },
    surfAd('x', { frequencyCap: { perDay: 0 } }),
    surfAd('x', { start: new Date(10), end: new Date(5) }),
    surfAd('x', { status: 'zombie' }),
    { id: 'x', advertiser: 'a', category: 'c' },
    { id: 'x', advertiser: 'a', title: 42, category: 'c' },
  ]) {
    await assert.rejects(engine.addAds([surfAd('fine'), ad]), bad, JSON.stringify(ad))
  }
  await assert.rejects(engine.addAds([surfAd('dup'), surfAd('dup')]), bad)
  await assert.rejects(engine.addAds([surfAd('fine'), null]), (e) => bad(e) && /ads\[1\]/.test(e.message))
  await assert.rejects(engine.addAds([surfAd('fine'), ['x']]), bad)
  await assert.rejects(engine.addAds(42), bad)
  await assert.rejects(engine.addAds({ id: 'not-in-an-array' }), bad)
  await assert.rejects(engine.addAds(join(tmp(), 'missing.jsonl')), bad)
  const txt = join(tmp(), 'ads.txt')
  writeFileSync(txt, 'id\n')
  await assert.rejects(engine.addAds(txt), bad)
  // One bad ad in a batch wrote nothing.
  assert.deepEqual((await engine.ads()).map((a) => a.id), ['ok'])
  await assert.rejects(engine.adsFor(''), bad)
  await assert.rejects(engine.similarUsers(''), bad)
  await assert.rejects(engine.setOptOut('u', ''), bad)
  await assert.rejects(engine.recordImpression('', 'ok'), bad)
  assert.throws(() => new Engine({ store: 'memory://', lookalikeWeight: -1 }), { code: 'INVALID_INPUT' })
  assert.throws(() => new Engine({ store: 'memory://', candidateBudget: 0 }), { code: 'INVALID_INPUT' })
  assert.throws(() => new Engine({ store: 'memory://', minAudienceSize: -1 }), { code: 'INVALID_INPUT' })
})

test('many concurrent ad calls on one engine: no crash, nothing lost', async () => {
  const engine = sqlite()
  await engine.addAds([surfAd('boards'), surfAd('wax', { interests: ['wax'] })])
  const users = Array.from({ length: 40 }, (_, i) => `u${i}`)
  await Promise.all(users.map((u, i) => engine.recordLike(u, `p${i}`, { interests: ['surfboard', i % 2 ? 'wax' : 'beach'] })))
  const work = []
  for (const u of users) {
    work.push(engine.adsFor(u, 3), engine.similarUsers(u, 5), engine.recordImpression(u, 'boards'), engine.recordClick(u, 'wax'))
  }
  work.push(engine.refreshIndex(), engine.audienceBypassingPrivacyMinimum({ ad: 'wax' }), engine.clickReport({ groupBy: ['ad'] }))
  const out = await Promise.all(work)
  assert.equal(out.length, users.length * 4 + 3)
  const stats = await engine.refreshIndex()
  assert.equal(stats.users, users.length)
  assert.equal(stats.ads, 2)
  assert.ok(stats.terms >= 3)
  const report = await engine.clickReport({ groupBy: ['ad'] })
  assert.deepEqual(report.rows, [
    { ad: 'boards', impressions: users.length, clicks: 0, ctr: 0 },
    { ad: 'wax', impressions: 0, clicks: users.length },
  ])
  // Everyone clicked wax: every user's similar users engaged with it.
  const [top] = (await engine.adsFor('u0', 5)).filter((m) => m.ad.id === 'wax')
  assert.ok(top.similarUsersEngaged > 0)
})

test('stateless serving reads the neighbour table that buildNeighbours writes', async () => {
  const store = `sqlite://${join(tmp(), 'stateless.db')}`
  const writer = new Engine({ store })
  await writer.addAds([surfAd('surf-1'), { id: 'chef-1', advertiser: 'C', title: 'Chefs', category: 'kitchen', interests: ['chef'] }])
  await writer.recordLike('ana', 'p1', { interests: ['surfboard', 'beach', 'wave'] })
  await writer.recordLike('ben', 'p2', { interests: ['surfboard', 'beach', 'wave'] })
  await writer.recordClick('ben', 'chef-1')
  assert.equal((await writer.similarUsers('ana'))[0].computedAt, undefined)
  const stats = await writer.buildNeighbours(20)
  assert.deepEqual([stats.users, stats.neighbours], [2, 2])
  assert.ok(stats.computedAt instanceof Date)
  const server = new Engine({ store, serving: 'stateless', inventoryTtl: 5 })
  const [peer] = await server.similarUsers('ana')
  assert.equal(peer.user, 'ben')
  assert.equal(peer.computedAt.getTime(), stats.computedAt.getTime())
  const chef = (await server.adsFor('ana')).find((m) => m.ad.id === 'chef-1')
  assert.equal(chef.similarUsersEngaged, 1)
  assert.equal(chef.neighboursComputedAt.getTime(), stats.computedAt.getTime())
  assert.equal((await server.refreshIndex()).users, 0)
  const report = await server.forgetUser('ben')
  assert.equal(report.neighbours, 2)
  assert.deepEqual(await server.similarUsers('ana'), [])
  assert.throws(() => new Engine({ store, serving: 'everywhere' }), /INVALID_INPUT|serving/)
  await assert.rejects(server.buildNeighbours(0), /INVALID_INPUT|k between/)
})
