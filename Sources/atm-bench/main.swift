print("atm-bench")
