# The seed guide's Python client ("Using Python SDK"), as the guide writes it.
# Its usage example (a fake endpoint and key) is left out; tests import the class.
import requests

class MultitalkClient:
    def __init__(self, endpoint, api_key):
        self.endpoint = endpoint
        self.headers = {'x-api-key': api_key}
    
    def generate_video(self, prompt, image_url, audio_urls):
        response = requests.post(
            f"{self.endpoint}/api/v1/generate",
            headers=self.headers,
            json={
                'prompt': prompt,
                'image_s3_url': image_url,
                'audio_s3_urls': audio_urls
            }
        )
        return response.json()
    
    def get_status(self, job_id):
        response = requests.get(
            f"{self.endpoint}/api/v1/jobs/{job_id}",
            headers=self.headers
        )
        return response.json()
