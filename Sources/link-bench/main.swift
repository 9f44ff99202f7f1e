print("link-bench")
