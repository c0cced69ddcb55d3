/* GET /: a small feed page for a browser, talking to the same JSON API. It
 * shows which backend answered each call, so round-robin and failover are
 * visible from the page itself. */
#include <string.h>

#include "call.h"

static const char page_html[] =
"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>switchboard feed</title>\n<style>\n"
"body{font:15px/1.4 system-ui,sans-serif;max-width:40em;margin:2em auto;"
"padding:0 1em;color:#222}\n"
"header{display:flex;justify-content:space-between;align-items:baseline}\n"
".post{border-bottom:1px solid #ddd;padding:.6em 0}.meta{color:#777;"
"font-size:.85em}\n#served{font-family:monospace;background:#eef;"
"padding:.1em .4em}\nbutton{cursor:pointer}.err{color:#b00}\n"
"</style></head><body>\n<header><h1>switchboard</h1>"
"<span>served by <span id=\"served\">?</span></span></header>\n"
"<form id=\"login\">user <input name=\"u\" value=\"alice\" size=\"8\"> "
"password <input name=\"p\" type=\"password\" value=\"switchboard\" "
"size=\"10\"> <button>log in</button></form>\n"
"<div id=\"app\" hidden><p>logged in as <b id=\"me\"></b> "
"<button id=\"logout\">log out</button> <button id=\"more\">refresh"
"</button></p>\n<form id=\"new\"><input name=\"t\" maxlength=\"280\" "
"size=\"40\" placeholder=\"say something\"> <button>post</button></form>\n"
"</div><p id=\"msg\" class=\"err\"></p><div id=\"feed\"></div>\n<script>\n"
"const $=s=>document.querySelector(s);\n"
"async function api(method,path,body){\n"
" const r=await fetch(path,{method,headers:body?{'Content-Type':"
"'application/json'}:{},body:body?JSON.stringify(body):undefined});\n"
" $('#served').textContent=r.headers.get('X-Served-By')||'?';\n"
" const j=await r.json().catch(()=>({}));\n"
" if(!r.ok){$('#msg').textContent=r.status+': '+(j.error||r.statusText);"
"throw r.status}\n $('#msg').textContent='';return j}\n"
"function esc(s){const d=document.createElement('div');d.textContent=s;"
"return d.innerHTML}\n"
"async function load(){\n const f=await api('GET','/feed?limit=20');\n"
" $('#feed').innerHTML=f.posts.map(p=>`<div class=post><b>${esc(p.author)}"
"</b> ${esc(p.text)}<div class=meta>#${p.id} \xc2\xb7 ${new Date("
"p.created_at*1000).toLocaleString()} \xc2\xb7 <button data-id=${p.id}>"
"${p.liked_by_me?'\xe2\x99\xa5':'\xe2\x99\xa1'} ${p.likes}</button></div>"
"</div>`).join('')}\n"
"async function me(){try{const u=await api('GET','/me');"
"$('#me').textContent=u.username;$('#app').hidden=false;"
"$('#login').hidden=true;await load()}catch(e){$('#app').hidden=true;"
"$('#login').hidden=false}}\n"
"$('#login').onsubmit=async e=>{e.preventDefault();try{await api('POST',"
"'/login',{username:e.target.u.value,password:e.target.p.value});await me()}"
"catch(x){}};\n"
"$('#logout').onclick=async()=>{await api('POST','/logout');"
"$('#feed').innerHTML='';await me()};\n"
"$('#more').onclick=()=>load().catch(()=>me());\n"
"$('#new').onsubmit=async e=>{e.preventDefault();try{await api('POST',"
"'/posts',{text:e.target.t.value});e.target.t.value='';await load()}"
"catch(x){}};\n"
"$('#feed').onclick=async e=>{const id=e.target.dataset.id;if(!id)return;"
"try{await api('POST','/posts/'+id+'/like');await load()}catch(x){}};\n"
"me();\n</script></body></html>\n";

void route_page(struct call *c)
{
    call_reply_static(c, 200, "text/html; charset=utf-8", page_html,
                      sizeof(page_html) - 1);
}
