print("rtud")
