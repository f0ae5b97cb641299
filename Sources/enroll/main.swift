print("enroll")
