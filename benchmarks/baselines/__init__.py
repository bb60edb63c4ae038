"""What hookd is measured against, each run as its own process on the same machine.

raw_client   aiohttp + uvloop posting prepared bodies: the limit of Python here
bare_api     FastAPI + uvicorn with hookd's request models and no storage
celery_app   a Celery task sending with requests, on a Redis broker
"""
