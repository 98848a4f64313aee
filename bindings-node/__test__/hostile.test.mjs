// Hostile numbers never crash Node (issue 11, items 1 and 2). Each test runs its calls in a
// child Node process (an abort, such as a panic in a constructor or a failed allocation,
// kills the child, not the test runner), which prints one JSON line per call; the parent
// checks the exit status and that every call resolved or failed with a stable error code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const addon = fileURLToPath(new URL('../index.js', import.meta.url))
const tiny = fileURLToPath(new URL('../../../shared/fixtures/vit-gpt2/tiny-vit-gpt2', import.meta.url))

const STABLE = new Set([
  'INVALID_INPUT', 'CONFLICT', 'NOT_FOUND', 'CONFIG', 'STORAGE', 'MODEL', 'RATE_LIMITED',
  'HTTP', 'TIMEOUT', 'PRIVACY', 'UNSUPPORTED', 'INTERNAL',
])
// napi's own argument conversion errors: a value of the wrong type (a string for a number,
// a BigInt where no parameter takes one), Node's counterpart of Python's TypeError.
const WRONG_TYPE = /^(InvalidArg|\w+Expected)$/

// `record(name, value, fn)` awaits fn and prints a JSON line; `world()` is a small engine.
const PRELUDE = `
const sl = require(${JSON.stringify(addon)})
const show = (v) => typeof v === 'bigint' ? v + 'n' : Object.is(v, -0) ? '-0' : typeof v === 'number' ? String(v) : JSON.stringify(v)
async function record (name, value, fn) {
  const line = { call: name, value: show(value) }
  try {
    const out = await fn()
    line.ok = true
    if (Array.isArray(out)) line.len = out.length
  } catch (e) {
    line.ok = false
    line.code = e && e.code
    line.type = e && e.constructor && e.constructor.name
    line.message = String(e && e.message).slice(0, 200)
  }
  console.log(JSON.stringify(line))
}
async function world (options = {}) {
  // Three users: audiences of them are listed only under a minimum of one.
  const e = new sl.Engine({ store: 'memory://', minAudienceSize: 1, ...options })
  await e.addAds([
    { id: 'ad-1', advertiser: 'WaveCo', title: 'Boards', category: 'surf', interests: ['surfboard', 'wave'] },
    { id: 'ad-2', advertiser: 'Chefs', title: 'Knives', category: 'kitchen', interests: ['kitchen knife'] },
  ])
  await e.addProducts([{ id: 'p-1', title: 'Surfboard wax', keywords: ['surfboard'] }])
  for (const [u, terms] of [['ana', ['surfboard', 'wave']], ['ben', ['surfboard', 'beach']], ['cleo', ['surfboard']]]) {
    await e.recordLike(u, 'post-' + u, { interests: terms })
  }
  return e
}
`

function runChild (body, args = []) {
  const r = spawnSync(process.execPath, ['-e', `${PRELUDE}\n(async () => {\n${body}\n})()`, '--', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  assert.equal(r.status, 0, `the child exited with ${r.status} (${r.signal}) after ${JSON.stringify(lines.slice(-1))}:\n${r.stderr.slice(-2000)}`)
  return lines
}

const SIZES = `[0, 1, 2 ** 32 - 1, 2 ** 50, 2 ** 53, Number.MAX_SAFE_INTEGER, -1, NaN, Infinity, -Infinity, 1e300, 1.5, 10n]`

test('every size argument is clamped or refused, in a subprocess', () => {
  const lines = runChild(`
    const e = await world()
    const url = 'http://127.0.0.1:9/v1'
    const calls = {
      'Engine.interests': (n) => e.interests('ana', n),
      'Engine.recommendProducts': (n) => e.recommendProducts('ana', n),
      'Engine.similarUsers': (n) => e.similarUsers('ana', n),
      'Engine.adsFor': (n) => e.adsFor('ana', n),
      'Engine.audience': (n) => e.audience({ interests: ['surfboard'] }, n),
      'Engine.audienceBypassingPrivacyMinimum': (n) => e.audienceBypassingPrivacyMinimum({ interests: ['surfboard'] }, n),
      'EngineOptions.lookalikeNeighbors': (n) => new sl.Engine({ store: 'memory://', lookalikeNeighbors: n }),
      'EngineOptions.minAudienceSize': (n) => new sl.Engine({ store: 'memory://', minAudienceSize: n }),
      'EngineOptions.candidateBudget': (n) => new sl.Engine({ store: 'memory://', candidateBudget: n }),
      'Ad.frequencyCap.perDay': (n) => e.addAds([{ id: 'ad-9', advertiser: 'a', title: 't', category: 'c', frequencyCap: { perDay: n } }]),
      'Ad.frequencyCap.lifetime': (n) => e.addAds([{ id: 'ad-9', advertiser: 'a', title: 't', category: 'c', frequencyCap: { lifetime: n } }]),
      'LlmOptions.maxRetries': (n) => new sl.OpenAiCompatible({ baseUrl: url, model: 'm', maxRetries: n }),
      'LlmOptions.requestsPerMinute': (n) => new sl.OpenAiCompatible({ baseUrl: url, model: 'm', requestsPerMinute: n }),
      'LlmOptions.requestTimeoutMs': (n) => new sl.OpenAiCompatible({ baseUrl: url, model: 'm', requestTimeoutMs: n }),
      'LlmOptions.deadlineMs': (n) => new sl.OpenAiCompatible({ baseUrl: url, model: 'm', deadlineMs: n }),
    }
    for (const [name, fn] of Object.entries(calls)) {
      for (const n of ${SIZES}) await record(name, n, () => fn(n))
    }
  `)
  assert.equal(lines.length, 15 * 13)
  const byCall = {}
  for (const l of lines) (byCall[l.call] ??= {})[l.value] = l
  for (const l of lines) {
    if (l.ok) continue
    if (l.value === '10n') {
      // addAds reads its ads one by one and reports a bad field as INVALID_INPUT.
      assert.ok(WRONG_TYPE.test(l.code) || l.code === 'INVALID_INPUT', JSON.stringify(l))
    } else {
      assert.equal(l.code, 'INVALID_INPUT', JSON.stringify(l))
    }
  }
  const reads = { 'Engine.interests': 2, 'Engine.recommendProducts': 1, 'Engine.similarUsers': 2, 'Engine.adsFor': 1, 'Engine.audience': 3, 'Engine.audienceBypassingPrivacyMinimum': 3 }
  for (const [call, total] of Object.entries(reads)) {
    for (const [value, l] of Object.entries(byCall[call])) {
      const n = Number(value)
      if (value === '10n') continue
      if (Number.isFinite(n) && n >= 0 && Number.isInteger(n)) {
        assert.ok(l.ok, JSON.stringify(l))
        assert.equal(l.len, Math.min(n, total), JSON.stringify(l))
      } else {
        // -1 used to wrap to 4294967295 and NaN to read as 0.
        assert.equal(l.code, 'INVALID_INPUT', JSON.stringify(l))
      }
    }
  }
  for (const call of ['Ad.frequencyCap.perDay', 'Ad.frequencyCap.lifetime']) {
    assert.ok(byCall[call]['4294967295'].ok)
    assert.equal(byCall[call][String(2 ** 50)].code, 'INVALID_INPUT', 'caps are 32-bit counts')
    assert.equal(byCall[call]['-1'].code, 'INVALID_INPUT')
  }
  assert.equal(byCall['EngineOptions.candidateBudget']['0'].code, 'INVALID_INPUT')
  assert.equal(byCall['LlmOptions.deadlineMs'][String(2 ** 32 - 1)].code, 'INVALID_INPUT', 'longer than a day')
})

test('every public callable survives hostile numbers, in a subprocess', () => {
  const args = existsSync(join(tiny, 'config.json')) ? [tiny] : []
  const lines = runChild(`
    const HOSTILE = [NaN, Infinity, -Infinity, -1, 1e300, 2 ** 53, Number.MAX_SAFE_INTEGER, 2 ** 64, 10n]
    const tiny = process.argv[2]
    const e = await world()
    const url = 'http://127.0.0.1:9/v1'
    const llm = new sl.OpenAiCompatible({ baseUrl: url, model: 'm' })
    const XDIR = (await import('node:fs')).mkdtempSync((await import('node:os')).tmpdir() + '/sociallens-hostile-')
    const AD = { id: 'ad-7', advertiser: 'a', title: 't', category: 'surf', interests: ['surfboard'], start: new Date(0), frequencyCap: { perDay: 3, lifetime: 9 } }
    // Valid arguments of every public callable; a walked callable missing here fails the walk.
    const VALID = {
      'Engine': [{ store: 'memory://', halfLifeDays: 30, likeWeight: 1, uploadWeight: 2, clickWeight: 0.5, impressionWeight: 0, interestWeight: 1, lookalikeWeight: 0.5, lookalikeNeighbors: 30, minAudienceSize: 50, semanticThreshold: 0.6, candidateBudget: 20000, audienceMinScore: 0.05 }, llm],
      'OpenAiCompatible': [{ baseUrl: url, model: 'm', requestTimeoutMs: 1000, deadlineMs: 2000, maxRetries: 1, requestsPerMinute: 60 }],
      'OpenAiCompatible.fromEnv': [],
      'Captioner.fromDir': ['/nonexistent', 'auto'],
      // Only substituted (a valid call would download): every variant fails converting an argument.
      'Captioner.fromHub': { substituteOnly: ['x', 'auto'] },
      'MiniLmEmbedder.fromDir': ['/nonexistent'],
      'MiniLmEmbedder.fromHub': { substituteOnly: ['x'] },
      'extractInterests': [['a dog on a beach'], 'interests'],
      'Engine.addAds': [[AD]],
      'Engine.ads': [],
      'Engine.ad': ['ad-1'],
      'Engine.pauseAd': ['ad-1'],
      'Engine.resumeAd': ['ad-1'],
      'Engine.removeAd': ['ad-7'],
      'Engine.similarUsers': ['ana', 3],
      'Engine.adsFor': ['ana', 3],
      'Engine.audience': [{ interests: ['surfboard'] }, 3],
      'Engine.audienceBypassingPrivacyMinimum': [{ interests: ['surfboard'] }, 3],
      'Engine.audienceSize': [{ interests: ['surfboard'] }],
      'Engine.recordImpression': ['ana', 'ad-1', { eventId: 'i-1', at: new Date(1_700_000_000_000) }],
      'Engine.recordClick': ['ana', 'ad-1', { eventId: 'c-1', at: new Date(1_700_000_000_000) }],
      'Engine.setOptOut': ['ana', 'kitchen', true],
      'Engine.optOuts': ['ana'],
      'Engine.clickReport': [{ groupBy: ['category'], start: new Date(0), end: new Date(2_000_000_000_000), timeZone: 'UTC' }],
      'Engine.refreshIndex': [],
      'Engine.buildNeighbours': [5],
      'Engine.addProducts': [[{ id: 'p-2', title: 'Leash', keywords: ['dog'], price: 9.5 }]],
      'Engine.products': [],
      'Engine.removeProduct': ['p-2'],
      'Engine.recommendProducts': ['ana', 3],
      'Engine.recordLike': ['ana', 'p-9', { interests: ['dog'], eventId: 'l-1', at: new Date(1_700_000_000_000) }],
      'Engine.recordUpload': ['ana', 'p-10', { interests: ['dog'] }],
      'Engine.unlike': ['ana', 'p-9', { eventId: 'u-1' }],
      'Engine.interests': ['ana', 3],
      'Engine.forgetUser': ['cleo'],
      'Engine.export': [{ dir: XDIR, datasets: ['events'], format: 'ndjson' }],
      'Engine.importFiles': [{ path: XDIR, dataset: 'events' }],
    }
    const instances = { Engine: e, OpenAiCompatible: llm }
    if (tiny) {
      instances.Captioner = sl.Captioner.fromDir(tiny)
      VALID['Captioner.caption'] = [[]]
      VALID['Captioner.kernels'] = []
    }
    // Every argument list with one value replaced: a positional argument, or one field
    // (one level deep, and frequencyCap's fields) of an options object.
    function* variants (args) {
      for (let i = 0; i < args.length; i++) {
        for (const v of HOSTILE) {
          const a = args.slice(); a[i] = v; yield [String(i), v, a]
        }
        const o = args[i]
        const plain = o && typeof o === 'object' && !Array.isArray(o) && !(o instanceof Date) && Object.getPrototypeOf(o) === Object.prototype
        const objs = plain ? [o] : Array.isArray(o) && o[0] && typeof o[0] === 'object' && Object.getPrototypeOf(o[0]) === Object.prototype ? [o[0]] : []
        for (const obj of objs) {
          const paths = Object.keys(obj).map((k) => [k])
          if (obj.frequencyCap) paths.push(['frequencyCap', 'perDay'], ['frequencyCap', 'lifetime'])
          for (const path of paths) {
            for (const v of HOSTILE) {
              const copy = structuredClone(obj)
              if (path.length === 1) copy[path[0]] = v; else copy[path[0]] = { ...copy[path[0]], [path[1]]: v }
              const a = args.slice(); a[i] = Array.isArray(o) ? [copy] : copy
              yield [i + '.' + path.join('.'), v, a]
            }
          }
        }
      }
    }
    const walked = []
    async function walk (name, call, isCtor = false) {
      walked.push(name)
      const valid = VALID[name]
      if (valid === undefined) { console.log(JSON.stringify({ call: name, missing: true })); return }
      if (Array.isArray(valid)) await record(name, null, () => call(valid))
      for (const [where, v, a] of variants(valid.substituteOnly ?? valid)) {
        await record(name + '@' + where, v, () => call(a))
      }
    }
    for (const [name, value] of Object.entries(sl).sort()) {
      if (name.startsWith('__') || typeof value !== 'function') continue
      const isClass = /^[A-Z]/.test(name)
      if (!isClass) { await walk(name, (a) => value(...a)); continue }
      if (name in VALID) await walk(name, (a) => new value(...a), true)
      for (const s of Object.getOwnPropertyNames(value)) {
        if (['length', 'name', 'prototype'].includes(s) || typeof value[s] !== 'function') continue
        await walk(name + '.' + s, (a) => value[s](...a))
      }
      for (const m of Object.getOwnPropertyNames(value.prototype)) {
        if (m === 'constructor') continue
        const d = Object.getOwnPropertyDescriptor(value.prototype, m)
        const inst = instances[name]
        if (!inst) { walked.push(name + '.' + m); console.log(JSON.stringify({ call: name + '.' + m, noInstance: true })); continue }
        if (d.get) await walk(name + '.' + m, () => inst[m])
        else await walk(name + '.' + m, (a) => inst[m](...a))
      }
    }
    console.log(JSON.stringify({ walked }))
  `, args)
  const { walked } = lines.at(-1)
  const calls = lines.slice(0, -1)
  assert.deepEqual(calls.filter((l) => l.missing), [], 'every callable needs valid arguments')
  const noInstance = new Set(calls.filter((l) => l.noInstance).map((l) => l.call))
  for (const c of noInstance) assert.match(c, /^(MiniLmEmbedder|Captioner)\./, c)
  for (const c of ['Engine', 'OpenAiCompatible', 'Engine.adsFor', 'Engine.audience', 'extractInterests']) assert.ok(walked.includes(c), c)
  // A JS TypeError (thrown by a conversion that calls into JS, such as a Date's) is a wrong type too.
  const escaped = calls.filter((l) => !l.ok && !l.noInstance && !STABLE.has(l.code) && !WRONG_TYPE.test(l.code ?? '') && l.type !== 'TypeError')
  assert.deepEqual(escaped, [])
  // A number where a number is taken never fails as a wrong type (napi's u32 and i64 used
  // to read NaN as 0 and wrap -1), and the reported crash is an INVALID_INPUT now.
  const by = Object.fromEntries(calls.map((l) => [l.call + ' ' + l.value, l]))
  assert.equal(by['Engine@0.halfLifeDays 1e+300'].code, 'INVALID_INPUT')
  assert.equal(by['Engine@0.lookalikeNeighbors NaN'].code, 'INVALID_INPUT')
  assert.equal(by['Engine@0.likeWeight 1e+300'].code, 'INVALID_INPUT')
  assert.equal(by['OpenAiCompatible@0.deadlineMs Infinity'].code, 'INVALID_INPUT')
  assert.equal(by['Engine.adsFor@1 -1'].code, 'INVALID_INPUT')
  assert.equal(by['Engine.addAds@0.frequencyCap.perDay NaN'].code, 'INVALID_INPUT')
  assert.ok(calls.length > 500, String(calls.length))
})

test('halfLifeDays: Infinity is no decay and 1e15 is refused, not an abort', () => {
  const lines = runChild(`
    await record('1e15', 1e15, () => new sl.Engine({ store: 'memory://', halfLifeDays: 1e15 }))
    await record('Infinity', Infinity, () => new sl.Engine({ store: 'memory://', halfLifeDays: Infinity }))
    await record('panic', null, () => sl.__panicForTests('boom'))
  `)
  assert.equal(lines[0].code, 'INVALID_INPUT')
  assert.ok(lines[1].ok)
  assert.equal(lines[2].code, 'INTERNAL')
})
