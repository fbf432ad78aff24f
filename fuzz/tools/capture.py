#!/usr/bin/env python3
"""Captures what real servers send a health checker: python's http.server (GET of a file,
a missing path and a directory listing) and aiosmtpd (banner, HELO, QUIT). Writes
CAPTURES/cap_*."""
import socket, subprocess, tempfile, time, sys, os
dest = sys.argv[1]
os.makedirs(dest, exist_ok=True)
www = tempfile.mkdtemp()
open(os.path.join(www, "health"), "w").write("OK\n")
def free_port():
    s=socket.socket(); s.bind(('127.0.0.1',0)); p=s.getsockname()[1]; s.close(); return p
out={}
# HTTP: python's http.server
p=free_port()
srv=subprocess.Popen([sys.executable,'-m','http.server','-b','127.0.0.1',str(p)],cwd=www,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
time.sleep(1.5)
for path,ver in [('/health','HTTP/1.0'),('/missing','HTTP/1.1'),('/','HTTP/1.1')]:
    c=socket.create_connection(('127.0.0.1',p))
    c.sendall(f'GET {path} {ver}\r\nHost: 127.0.0.1:{p}\r\nConnection: close\r\nUser-Agent: ha-healthcheck/0.1.0\r\n\r\n'.encode())
    data=b''
    while True:
        b=c.recv(65536)
        if not b: break
        data+=b
    out['http'+path.replace('/','_')]=data
srv.terminate(); srv.wait()
# SMTP: aiosmtpd
p=free_port()
srv=subprocess.Popen([sys.executable,'-m','aiosmtpd','-n','-l',f'127.0.0.1:{p}'],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
time.sleep(2)
c=socket.create_connection(('127.0.0.1',p)); f=c.makefile('rb')
data=f.readline()
c.sendall(b'HELO ha-healthcheck\r\n'); data+=f.readline()
c.sendall(b'QUIT\r\n'); data+=f.readline()
out['smtp']=data
c.close(); srv.terminate(); srv.wait()
for k,v in out.items():
    open(os.path.join(dest, 'cap_'+k),'wb').write(v)
    print(k, repr(v[:300]))
