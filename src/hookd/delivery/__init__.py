"""The life of a delivery, in the order it happens.

ingest     event + its deliveries, one transaction
worker     claim due deliveries under a lease, run them within limits
request    render the request: envelope or template, headers, signature
sender     one HTTP attempt through a guarded, pooled client
outcomes   what the attempt means: succeeded, retry at t, failed, disable
recorder   write attempts and outcomes in batches
"""
