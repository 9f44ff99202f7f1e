// RTU scheduler
