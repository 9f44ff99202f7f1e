print("sched-bench")
