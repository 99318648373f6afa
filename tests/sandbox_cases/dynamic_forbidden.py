def f():
    mod = __import__("sk" + "learn")
    return str(mod)
