#!/usr/bin/env bash
# Beyond the guide: refuse malformed job submissions at the gateway, before
# they cost GPU time, with plain API Gateway configuration (it deploys to AWS
# unchanged). Run after setup.sh, with API_ID set:
#
#   API_ID=... bash examples/multitalk/gateway-checks.sh
#
# It adds a GenerateRequest model (models/GenerateRequest.json: the fields
# and ranges of MultiTalk's generate body), a body validator, and
# POST /api/v1/generate using it, with the same integration as the guide's
# /api/{proxy+} (its Lambda proxy; or, with UPSTREAM=http://host:port and
# UPSTREAM_KEY set, an HTTP_PROXY that injects the MultiTalk key). A request
# the model refuses gets API Gateway's 400 {"message": "Invalid request body"}
# and never reaches the integration.
#
# Then the guide's cost advice ("enable API Gateway caching for GET
# requests"): GET /api/v1/jobs/{job_id} through the stage cache with a
# 10-second TTL, keyed by the job id, so clients polling a job's status
# every second reach MultiTalk once per 10 seconds.
set -euo pipefail
: "${API_ID:?set API_ID to the API setup.sh created}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

aws apigateway create-model \
  --rest-api-id $API_ID \
  --name GenerateRequest \
  --content-type application/json \
  --schema "file://$HERE/models/GenerateRequest.json"

VALIDATOR_ID=$(aws apigateway create-request-validator \
  --rest-api-id $API_ID \
  --name body-only \
  --validate-request-body \
  --no-validate-request-parameters \
  --query id --output text)

API_RESOURCE_ID=$(aws apigateway get-resources --rest-api-id $API_ID --query 'items[?path==`/api`].id' --output text)
V1_ID=$(aws apigateway create-resource --rest-api-id $API_ID --parent-id $API_RESOURCE_ID --path-part v1 --query id --output text)
GENERATE_ID=$(aws apigateway create-resource --rest-api-id $API_ID --parent-id $V1_ID --path-part generate --query id --output text)

aws apigateway put-method \
  --rest-api-id $API_ID \
  --resource-id $GENERATE_ID \
  --http-method POST \
  --authorization-type NONE \
  --api-key-required \
  --request-validator-id $VALIDATOR_ID \
  --request-models application/json=GenerateRequest

if [ -n "${UPSTREAM:-}" ]; then
  aws apigateway put-integration \
    --rest-api-id $API_ID \
    --resource-id $GENERATE_ID \
    --http-method POST \
    --type HTTP_PROXY \
    --integration-http-method POST \
    --uri "$UPSTREAM/api/v1/generate" \
    --request-parameters "{\"integration.request.header.Authorization\":\"'Bearer ${UPSTREAM_KEY:?set UPSTREAM_KEY with UPSTREAM}'\"}"
else
  aws apigateway put-integration \
    --rest-api-id $API_ID \
    --resource-id $GENERATE_ID \
    --http-method POST \
    --type AWS_PROXY \
    --integration-http-method POST \
    --uri "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCOUNT:function:multitalk-api-proxy/invocations"
fi

# --- job status through the stage cache ------------------------------------
JOBS_ID=$(aws apigateway create-resource --rest-api-id $API_ID --parent-id $V1_ID --path-part jobs --query id --output text)
JOB_ID=$(aws apigateway create-resource --rest-api-id $API_ID --parent-id $JOBS_ID --path-part '{job_id}' --query id --output text)

aws apigateway put-method \
  --rest-api-id $API_ID \
  --resource-id $JOB_ID \
  --http-method GET \
  --authorization-type NONE \
  --api-key-required \
  --request-parameters method.request.path.job_id=true

if [ -n "${UPSTREAM:-}" ]; then
  aws apigateway put-integration \
    --rest-api-id $API_ID \
    --resource-id $JOB_ID \
    --http-method GET \
    --type HTTP_PROXY \
    --integration-http-method GET \
    --uri "$UPSTREAM/api/v1/jobs/{job_id}" \
    --cache-key-parameters method.request.path.job_id \
    --request-parameters "{\"integration.request.path.job_id\":\"method.request.path.job_id\",\"integration.request.header.Authorization\":\"'Bearer ${UPSTREAM_KEY}'\"}"
else
  aws apigateway put-integration \
    --rest-api-id $API_ID \
    --resource-id $JOB_ID \
    --http-method GET \
    --type AWS_PROXY \
    --integration-http-method POST \
    --cache-key-parameters method.request.path.job_id \
    --uri "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCOUNT:function:multitalk-api-proxy/invocations"
fi

# (JSON form: the CLI's shorthand cannot carry the braces of {job_id}.)
aws apigateway update-stage \
  --rest-api-id $API_ID \
  --stage-name prod \
  --patch-operations '[
    {"op": "replace", "path": "/cacheClusterEnabled", "value": "true"},
    {"op": "replace", "path": "/cacheClusterSize", "value": "0.5"},
    {"op": "replace", "path": "/~1api~1v1~1jobs~1{job_id}/GET/caching/enabled", "value": "true"},
    {"op": "replace", "path": "/~1api~1v1~1jobs~1{job_id}/GET/caching/ttlInSeconds", "value": "10"}]'

aws apigateway create-deployment --rest-api-id $API_ID --stage-name prod

echo "GENERATE_ID=$GENERATE_ID"
echo "JOB_ID=$JOB_ID"
echo "VALIDATOR_ID=$VALIDATOR_ID"
