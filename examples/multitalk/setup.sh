#!/usr/bin/env bash
# The API Gateway setup of the MeiGen-MultiTalk guide (seed), steps 1 and 3-7
# plus its CloudWatch logging, X-Ray tracing and alarm commands, copied
# verbatim. Run it against Tollgate instead of AWS by pointing the CLI at it:
#
#   AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=test \
#   AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
#   bash examples/multitalk/setup.sh
#
# REGION and ACCOUNT in the ARNs are kept exactly as the guide writes them.
# One CLI syntax fix in step 4 (`--api-key-required`), explained there.
# Step 2 (deploying the Lambda proxy) is Python, not a CLI command.
# At the end the ids are printed as KEY=VALUE lines for scripts and tests.
set -euo pipefail

# --- 1. Create REST API -------------------------------------------------------
# Using AWS CLI
aws apigateway create-rest-api \
  --name "MeiGen-MultiTalk-API" \
  --description "API Gateway for MeiGen-MultiTalk video generation" \
  --endpoint-configuration types=REGIONAL

# --- 3. Configure API Gateway Resources ---------------------------------------
# Get API ID
API_ID=$(aws apigateway get-rest-apis --query 'items[?name==`MeiGen-MultiTalk-API`].id' --output text)

# Get root resource ID
ROOT_ID=$(aws apigateway get-resources --rest-api-id $API_ID --query 'items[?path==`/`].id' --output text)

# Create /api resource
aws apigateway create-resource \
  --rest-api-id $API_ID \
  --parent-id $ROOT_ID \
  --path-part "api"

# Create proxy resource under /api
API_RESOURCE_ID=$(aws apigateway get-resources --rest-api-id $API_ID --query 'items[?path==`/api`].id' --output text)

aws apigateway create-resource \
  --rest-api-id $API_ID \
  --parent-id $API_RESOURCE_ID \
  --path-part "{proxy+}"

# --- 4. Create Methods ----------------------------------------------------------
# Get proxy resource ID
PROXY_ID=$(aws apigateway get-resources --rest-api-id $API_ID --query 'items[?path==`/api/{proxy+}`].id' --output text)

# Create ANY method
# The one deviation from the guide: it writes `--api-key-required true`, but
# --api-key-required is a boolean flag in the aws CLI (v1 and v2), which rejects
# the extra word before sending anything ("Unknown options: true"), against AWS
# as well. The flag alone means what the guide intends.
aws apigateway put-method \
  --rest-api-id $API_ID \
  --resource-id $PROXY_ID \
  --http-method ANY \
  --authorization-type NONE \
  --api-key-required

# --- 5. Configure Lambda Integration -------------------------------------------
# Set up Lambda integration
aws apigateway put-integration \
  --rest-api-id $API_ID \
  --resource-id $PROXY_ID \
  --http-method ANY \
  --type AWS_PROXY \
  --integration-http-method POST \
  --uri "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/arn:aws:lambda:REGION:ACCOUNT:function:multitalk-api-proxy/invocations"

# --- 6. Deploy API --------------------------------------------------------------
# Create deployment
aws apigateway create-deployment \
  --rest-api-id $API_ID \
  --stage-name prod \
  --stage-description "Production stage"

# --- 7. Create Usage Plan and API Keys ----------------------------------------
# Create usage plan
USAGE_PLAN_ID=$(aws apigateway create-usage-plan \
  --name "MultitalkBasic" \
  --description "Basic usage plan for Multitalk API" \
  --throttle burstLimit=100,rateLimit=50 \
  --quota limit=10000,period=DAY \
  --api-stages apiId=$API_ID,stage=prod \
  --query 'id' --output text)

# Create API key
API_KEY_ID=$(aws apigateway create-api-key \
  --name "multitalk-client-key" \
  --description "API key for Multitalk clients" \
  --enabled \
  --query 'id' --output text)

# Associate API key with usage plan
aws apigateway create-usage-plan-key \
  --usage-plan-id $USAGE_PLAN_ID \
  --key-id $API_KEY_ID \
  --key-type API_KEY

# --- CloudWatch Logging -------------------------------------------------------
# Create log group
aws logs create-log-group --log-group-name /aws/apigateway/multitalk

# Update stage with logging
aws apigateway update-stage \
  --rest-api-id $API_ID \
  --stage-name prod \
  --patch-operations \
    op=replace,path=/accessLogSettings/destinationArn,value=arn:aws:logs:REGION:ACCOUNT:log-group:/aws/apigateway/multitalk \
    op=replace,path=/accessLogSettings/format,value='$context.requestId'

# --- X-Ray Tracing ----------------------------------------------------------------
aws apigateway update-stage \
  --rest-api-id $API_ID \
  --stage-name prod \
  --patch-operations op=replace,path=/tracingEnabled,value=true

# --- CloudWatch Metrics -------------------------------------------------------
# High error rate alarm
aws cloudwatch put-metric-alarm \
  --alarm-name multitalk-api-errors \
  --alarm-description "Alert on high API error rate" \
  --metric-name 4XXError \
  --namespace AWS/ApiGateway \
  --statistic Sum \
  --period 300 \
  --threshold 10 \
  --comparison-operator GreaterThanThreshold \
  --evaluation-periods 1

# --- ids, one KEY=VALUE per line ------------------------------------------------
echo "API_ID=$API_ID"
echo "PROXY_ID=$PROXY_ID"
echo "USAGE_PLAN_ID=$USAGE_PLAN_ID"
echo "API_KEY_ID=$API_KEY_ID"
