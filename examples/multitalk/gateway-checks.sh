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

aws apigateway create-deployment --rest-api-id $API_ID --stage-name prod

echo "GENERATE_ID=$GENERATE_ID"
echo "VALIDATOR_ID=$VALIDATOR_ID"
