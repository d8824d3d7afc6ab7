print("fab")
