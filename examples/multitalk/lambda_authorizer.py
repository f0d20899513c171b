# The guide's optional custom authorizer ("Custom Authorizer (Optional)"), verbatim.
# It calls validate_token(token), which the guide leaves to you: define it in
# the module that deploys this function (tests/compat/test_authorizer.py shows how).

def lambda_authorizer(event, context):
    """
    Custom authorizer for additional authentication logic.
    """
    
    # Extract token from event
    token = event.get('authorizationToken', '')
    
    # Validate token (implement your logic)
    if not validate_token(token):
        raise Exception('Unauthorized')
    
    # Return policy
    return {
        'principalId': 'user',
        'policyDocument': {
            'Version': '2012-10-17',
            'Statement': [{
                'Action': 'execute-api:Invoke',
                'Effect': 'Allow',
                'Resource': event['methodArn']
            }]
        },
        'context': {
            'userId': 'extracted-user-id'
        }
    }
