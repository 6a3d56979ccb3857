#!/usr/bin/env node
// Offline IAM authorization of the platform's runtime flows with @cloud-copilot/iam-simulate (AGPL-3.0, a
// devDependency used by tests only: never bundled into the app or a Lambda asset).
//
// stdin: a JSON array of {id, engine, simulation}; stdout: a JSON array of {id, result, errors, ignoredContextKeys,
// grants, denials}. `engine` is "validated" (runSimulation: validates policies, action, resource type and context
// keys; evaluates VPC endpoint policies) or "unsafe" (runUnsafeSimulation: evaluates every context key as given,
// e.g. kms:EncryptionContext:aws:s3:arn, which runSimulation drops; no endpoint policies).
'use strict'
const simulate = require('@cloud-copilot/iam-simulate')
const { createValidatedPolicy, validateResourcePolicy } = require('@cloud-copilot/iam-policy')

// runUnsafeSimulation returns only the decision. To report the deciding statement we observe the analysis its
// core engine computes: the package's own CommonJS module for the engine, looked up next to its entry point.
const path = require('path')
const engineModule = require(path.join(path.dirname(require.resolve('@cloud-copilot/iam-simulate')), 'core_engine', 'CoreSimulatorEngine.js'))
let lastAnalysis
const authorize = engineModule.authorize
engineModule.authorize = (request) => {
  lastAnalysis = authorize(request)
  return lastAnalysis
}

function reasons(analysis) {
  if (!analysis) return { grants: [], denials: [] }
  const grants = analysis.result === 'Allowed' ? simulate.getGrantReasons(analysis) : []
  const denials = analysis.result === 'Allowed' ? [] : simulate.getDenialReasons(analysis)
  return { grants, denials }
}

async function run(item) {
  const simulation = item.simulation
  if (item.engine === 'unsafe') {
    if (simulation.resourcePolicy) {
      // A named, validated resource policy (the unsafe engine loads it as given and reports its name).
      simulation.resourcePolicy = createValidatedPolicy(simulation.resourcePolicy, validateResourcePolicy, {
        name: item.resourcePolicyName || 'resource-policy'
      })
    }
    lastAnalysis = undefined
    const result = simulate.runUnsafeSimulation(simulation, {})
    return { id: item.id, result, ...reasons(lastAnalysis) }
  }
  const response = await simulate.runSimulation(simulation, {})
  if (response.resultType === 'error') {
    return { id: item.id, result: 'Error', errors: response.errors }
  }
  // A request without a resource (Resource "*") of an action whose resource type is optional (PutMetricData) comes
  // back as a pattern evaluation: its decision is the overall result, explained by the evaluation of "*" itself.
  const single =
    response.resultType === 'wildcard'
      ? response.results.find((r) => r.resourcePattern === simulation.request.resource.resource) || response.results[0]
      : response.result
  return {
    id: item.id,
    result: response.overallResult,
    ignoredContextKeys: (single && single.ignoredContextKeys) || [],
    ...reasons(single && single.analysis)
  }
}

async function main() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const items = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const results = []
  for (const item of items) {
    try {
      results.push(await run(item))
    } catch (error) {
      results.push({ id: item.id, result: 'Error', errors: { message: String(error && error.stack || error) } })
    }
  }
  process.stdout.write(JSON.stringify(results))
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + '\n')
  process.exit(1)
})
