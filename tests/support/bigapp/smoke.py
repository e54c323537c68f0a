import json

import index

out = json.loads(index.handler(b'{"size": 96}', None))
assert out["shape"] == [32, 32, 3], out
assert len(out["scores"]) == 3 and abs(sum(out["scores"]) - 1) < 1e-3, out
print(json.dumps(out))
