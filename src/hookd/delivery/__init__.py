"""The life of a delivery, in the order it happens.

ingest       event + its deliveries, one transaction (queued mode: `queued`)
batching     queued deliveries gathered into one batch delivery per flush
worker       claim due deliveries under a lease, run them within limits
isolation    per-webhook lanes: in-flight cap, rate limit
attempt      one try: render → send → settle
request      render the request: envelope or template, headers, signatures
guard        refuse non-public targets at connect time
sender       one HTTP attempt through a guarded, pooled client
outcomes     what the attempt means: succeeded, retry at t, failed, disable
recorder     write attempts, outcomes and health in batches
operational  tell the app: webhook.disabled, delivery.failed, …
mailing      digest e-mails to a webhook's owners
"""
