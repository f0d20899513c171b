import json
import os
import requests
from urllib.parse import urlencode

# Configuration
MODAL_API_URL = os.environ['MODAL_API_URL']  # e.g., https://your-app.modal.run
MODAL_API_KEY = os.environ['MODAL_API_KEY']

def lambda_handler(event, context):
    """
    Lambda function to proxy requests from API Gateway to Modal.
    """
    
    # Extract request details
    path = event.get('path', '/')
    method = event.get('httpMethod', 'GET')
    headers = event.get('headers', {})
    query_params = event.get('queryStringParameters', {})
    body = event.get('body', '')
    
    # Parse body if it's JSON
    if headers.get('Content-Type') == 'application/json' and body:
        try:
            body = json.loads(body)
        except:
            pass
    
    # Build Modal URL
    modal_url = f"{MODAL_API_URL}{path}"
    if query_params:
        modal_url += f"?{urlencode(query_params)}"
    
    # Forward headers (excluding Host and Lambda-specific headers)
    forward_headers = {}
    exclude_headers = ['Host', 'X-Forwarded-For', 'X-Forwarded-Port', 
                      'X-Forwarded-Proto', 'X-Amzn-Trace-Id']
    
    for key, value in headers.items():
        if key not in exclude_headers:
            forward_headers[key] = value
    
    # Add Modal API key
    forward_headers['Authorization'] = f'Bearer {MODAL_API_KEY}'
    
    try:
        # Make request to Modal
        if method == 'GET':
            response = requests.get(modal_url, headers=forward_headers, 
                                  params=query_params, timeout=30)
        elif method == 'POST':
            response = requests.post(modal_url, headers=forward_headers, 
                                   json=body, timeout=30)
        elif method == 'DELETE':
            response = requests.delete(modal_url, headers=forward_headers, 
                                     timeout=30)
        else:
            response = requests.request(method, modal_url, headers=forward_headers,
                                      json=body, timeout=30)
        
        # Build Lambda proxy response
        return {
            'statusCode': response.status_code,
            'headers': {
                'Content-Type': response.headers.get('Content-Type', 'application/json'),
                'Access-Control-Allow-Origin': '*',
                'Access-Control-Allow-Headers': 'Content-Type,X-Api-Key,Authorization',
                'Access-Control-Allow-Methods': 'GET,POST,DELETE,OPTIONS'
            },
            'body': response.text
        }
        
    except requests.exceptions.Timeout:
        return {
            'statusCode': 504,
            'headers': {'Content-Type': 'application/json'},
            'body': json.dumps({'error': 'Gateway timeout'})
        }
    except Exception as e:
        return {
            'statusCode': 500,
            'headers': {'Content-Type': 'application/json'},
            'body': json.dumps({'error': 'Internal server error', 'detail': str(e)})
        }
