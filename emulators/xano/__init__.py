"""A local stand-in for the Xano job_posting API: paging, bulk writes, rate limit, faults."""
