#include "reports/html.h"

#include <cstdio>
#include <filesystem>

#include "lib/files.h"

namespace bagnet::reports {
namespace {

namespace fs = std::filesystem;

// Shared by every report: a plain, readable layout that prints well and needs no web fonts.
constexpr const char* kCss = R"CSS(
:root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--bg:#f6f7f9;--card:#fff;--accent:#2f5fb3;
--ok:#1f7a3a;--bad:#b3261e;--bar:#8fb0e6}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
header.top{background:#fff;border-bottom:1px solid var(--line);padding:14px 24px}
header.top h1{margin:0;font-size:20px;font-weight:600}
header.top .sub{color:var(--muted);margin-top:2px}
main{padding:16px 24px 40px;max-width:1600px}
h2{font-size:16px;margin:26px 0 10px;font-weight:600}
a{color:var(--accent)}
.stats{display:flex;flex-wrap:wrap;gap:12px}
.stat{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:140px}
.stat .v{font-size:22px;font-weight:600}.stat .k{color:var(--muted);font-size:12px}
table.data{border-collapse:collapse;background:#fff;border:1px solid var(--line);font-variant-numeric:tabular-nums}
table.data th,table.data td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:left}
table.data td.n,table.data th.n{text-align:right}
table.data th{background:#eef1f5;font-weight:600;white-space:nowrap}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir="1"]::after{content:" \25B2"}table.sortable th[data-dir="-1"]::after{content:" \25BC"}
.meter{display:inline-block;width:90px;height:8px;background:#e8ebf0;border-radius:4px;vertical-align:middle;
margin-left:8px;overflow:hidden}.meter i{display:block;height:100%;background:var(--bar)}
.bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:6px 0 12px}
.bar input,.bar select,.pager button{font:inherit;padding:5px 8px;border:1px solid #c5cbd5;border-radius:6px;
background:#fff}
.bar input{min-width:240px}.bar .count{color:var(--muted);margin-left:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.card{display:block;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden;
color:inherit;text-decoration:none;border-top:4px solid var(--line)}
.card.ok{border-top-color:var(--ok)}.card.wrong{border-top-color:var(--bad)}
.card:hover{box-shadow:0 2px 10px rgba(20,30,50,.15)}
.card .pic{background:#fff;display:flex;align-items:center;justify-content:center;height:170px;
border-bottom:1px solid var(--line)}
.card img{max-width:100%;max-height:170px;display:block}.card img.px{image-rendering:pixelated;height:150px}
.card .noimg{color:var(--muted);font-size:12px}
.card .body{padding:7px 10px 9px}
.card .title{font-weight:600;font-size:13px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card .row{display:flex;align-items:center;gap:6px;font-size:12px;margin-top:3px}
.card .row .name{flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card .row .p{width:46px;text-align:right;font-variant-numeric:tabular-nums;color:var(--muted)}
.card .row .pb{width:50px;height:6px;background:#e8ebf0;border-radius:3px;overflow:hidden}
.card .row .pb i{display:block;height:100%;background:var(--bar)}
.card .row.target .name{font-weight:600}.card .row.target .name::before{content:"\2713 ";color:var(--ok)}
.card .note{font-size:12px;color:var(--muted);margin-top:4px}
.card .note b{color:var(--fg)}
.pager{display:flex;gap:8px;align-items:center;justify-content:center;margin:16px 0}
.pager button[disabled]{opacity:.4}
.empty{color:var(--muted);padding:30px;text-align:center;grid-column:1/-1}
#overlay{position:fixed;inset:0;background:rgba(15,20,30,.82);display:flex;align-items:center;
justify-content:center;z-index:10;padding:24px}
#overlay[hidden]{display:none}
#overlay .box{background:#fff;border-radius:8px;padding:12px;max-width:96vw;max-height:94vh;overflow:auto}
#overlay img{max-width:92vw;max-height:80vh;display:block;margin:0 auto}
#overlay .cap{margin-top:8px;display:flex;gap:14px;flex-wrap:wrap;align-items:center}
#overlay .cap .x{margin-left:auto;cursor:pointer;border:0;background:none;font-size:20px}
footer{color:var(--muted);font-size:12px;padding:10px 24px 30px}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px;display:inline-block}
figure img{max-width:100%;display:block}
.side{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.side h2{margin-top:0}
)CSS";

// Runs first, in <head>: whatever goes wrong later is recorded on <html> for a test to read
// (a headless browser's DOM dump shows attributes, not the console).
constexpr const char* kProbeJs = R"JS(
(function(){var d=document.documentElement;d.dataset.errors="0";d.dataset.imagesLoaded="0";
d.dataset.imagesFailed="0";
function note(m){d.dataset.errors=String(+d.dataset.errors+1);
d.dataset.errorLog=(d.dataset.errorLog?d.dataset.errorLog+" | ":"")+m;}
window.addEventListener("error",function(e){if(e.target&&e.target.tagName==="IMG")return;
note(String(e.message||e.type)+(e.lineno?" (line "+e.lineno+")":""));},true);
window.addEventListener("unhandledrejection",function(e){note("unhandled rejection: "+e.reason);});
var ce=console.error;console.error=function(){note(Array.prototype.join.call(arguments," "));
return ce.apply(console,arguments);};
// load/error of images do not bubble and never reach window: listen on document, capturing.
document.addEventListener("load",function(e){var t=e.target;if(t.tagName!=="IMG")return;
d.dataset.imagesLoaded=String(+d.dataset.imagesLoaded+1);if(t.naturalWidth&&t.naturalWidth<100)
t.classList.add("px");},true);
document.addEventListener("error",function(e){var t=e.target;if(t.tagName!=="IMG")return;
d.dataset.imagesFailed=String(+d.dataset.imagesFailed+1);
d.dataset.failedImage=t.getAttribute("src");},true);})();
)JS";

// Runs at the end of <body>: galleries, sortable tables, the full-size overlay.
constexpr const char* kMainJs = R"JS(
(function(){
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;
if(text!==undefined)e.textContent=text;return e;}
function readHash(){var o={};location.hash.replace(/^#/,"").split("&").forEach(function(kv){
if(!kv)return;var i=kv.indexOf("=");var k=decodeURIComponent(i<0?kv:kv.slice(0,i));
o[k]=i<0?"1":decodeURIComponent(kv.slice(i+1).replace(/\+/g," "));});return o;}
function writeHash(o){var s=Object.keys(o).filter(function(k){return o[k]!==""&&o[k]!==undefined;})
.map(function(k){return encodeURIComponent(k)+"="+encodeURIComponent(o[k]);}).join("&");
if(("#"+s)===location.hash||(s===""&&location.hash===""))return;
try{location.replace("#"+s);}catch(e){}}
// The overlay: one per page, showing a card's full-size image and its links.
var ov=document.getElementById("overlay");
function openOverlay(it){if(!ov)return;var img=ov.querySelector("img");img.src=it.href;img.alt=it.t;
ov.querySelector(".t").textContent=it.t;var ls=ov.querySelector(".links");ls.textContent="";
[["full size",it.href]].concat(it.links||[]).forEach(function(l){var a=el("a","",l[0]);a.href=l[1];
a.target="_blank";ls.appendChild(a);ls.appendChild(document.createTextNode(" "));});ov.hidden=false;}
function closeOverlay(){if(ov){ov.hidden=true;ov.querySelector("img").removeAttribute("src");}}
if(ov){ov.addEventListener("click",function(e){if(e.target===ov||e.target.classList.contains("x"))
closeOverlay();});document.addEventListener("keydown",function(e){if(e.key==="Escape")closeOverlay();});}
function pct(p){return p<0.0005?"<0.1%":(100*p).toFixed(p>=0.9995?0:1)+"%";}
function card(it,eager){var a=el("a","card"+(it.ok===true?" ok":it.ok===false?" wrong":""));
if(it.href){a.href=it.href;a.addEventListener("click",function(e){if(e.button||e.ctrlKey||e.metaKey||
e.shiftKey)return;e.preventDefault();openOverlay(it);});}
var pic=el("div","pic");if(it.img){var im=el("img");if(!eager)im.loading="lazy";im.decoding="async";
im.alt=it.t;im.src=it.img;pic.appendChild(im);}else pic.appendChild(el("span","noimg","no image"));
a.appendChild(pic);var b=el("div","body");var t=el("div","title",it.t);t.title=it.t;b.appendChild(t);
(it.rows||[]).forEach(function(r){var row=el("div","row"+(r[2]?" "+r[2]:""));
var n=el("span","name",r[0]);n.title=r[0];row.appendChild(n);
if(typeof r[1]==="number"){var pb=el("span","pb");var i=el("i");i.style.width=(100*r[1]).toFixed(1)+"%";
pb.appendChild(i);row.appendChild(pb);row.appendChild(el("span","p",pct(r[1])));}b.appendChild(row);});
(it.notes||[]).forEach(function(n){b.appendChild(el("div","note",n));});a.appendChild(b);return a;}
function gallery(root){
var items=JSON.parse(root.querySelector("script.items").textContent);
var cfg=JSON.parse(root.querySelector("script.config").textContent);
var grid=root.querySelector(".grid"),pager=root.querySelector(".pager"),count=root.querySelector(".count");
var q=root.querySelector("input.q"),cls=root.querySelector("select.cls"),ok=root.querySelector("select.ok"),
sort=root.querySelector("select.sort");var per=cfg.per_page||100;
(cfg.classes||[]).forEach(function(c){var o=el("option","",c);o.value=c;cls.appendChild(o);});
if(!(cfg.classes||[]).length)cls.hidden=true;if(!cfg.correct)ok.hidden=true;
(cfg.correct_labels||[]).forEach(function(t,i){if(ok.options[i])ok.options[i].textContent=t;});
(cfg.sorts||[]).forEach(function(s){var o=el("option","",s.label);o.value=s.key;sort.appendChild(o);});
if(!(cfg.sorts||[]).length)sort.hidden=true;
var st={q:"",class:"",correct:"",sort:cfg.sorts&&cfg.sorts.length?cfg.sorts[0].key:"",page:1,eager:""};
var h=readHash();Object.keys(st).forEach(function(k){if(h[k]!==undefined)st[k]=k==="page"?
Math.max(1,parseInt(h[k],10)||1):h[k];});
q.value=st.q;cls.value=st.class;ok.value=st.correct;if(st.sort)sort.value=st.sort;
function match(it){if(st.q&&(it.s||"").indexOf(st.q.toLowerCase())<0)return false;
if(st.class&&(it.cls||[]).indexOf(st.class)<0)return false;
if(st.correct==="correct"&&it.ok!==true)return false;if(st.correct==="wrong"&&it.ok!==false)return false;
return true;}
function sorter(){var s=(cfg.sorts||[]).filter(function(x){return x.key===st.sort;})[0];
if(!s)return null;return function(a,b){var va=a.v&&a.v[s.key],vb=b.v&&b.v[s.key];
var na=typeof va!=="number",nb=typeof vb!=="number";if(na!==nb)return na?1:-1;
var d=na?0:(va-vb)*(s.dir||1);return d||(a.t<b.t?-1:a.t>b.t?1:0);};}
function render(){var list=items.filter(match);var f=sorter();if(f)list.sort(f);
var pages=Math.max(1,Math.ceil(list.length/per));if(st.page>pages)st.page=pages;
var from=(st.page-1)*per,shown=list.slice(from,from+per);grid.textContent="";
var frag=document.createDocumentFragment();shown.forEach(function(it){frag.appendChild(card(it,st.eager));});
if(!shown.length)frag.appendChild(el("div","empty",cfg.empty||"Nothing matches."));grid.appendChild(frag);
grid.dataset.total=items.length;grid.dataset.matching=list.length;grid.dataset.shown=shown.length;
grid.dataset.page=st.page;grid.dataset.pages=pages;
count.textContent=(list.length===items.length?items.length+" items":list.length+" of "+items.length+
" items")+(pages>1?", "+(from+1)+"\u2013"+(from+shown.length)+" shown":"");
pager.textContent="";if(pages>1){var pv=el("button","","\u2190 Previous");pv.disabled=st.page<=1;
pv.onclick=function(){go(st.page-1);};var nx=el("button","","Next \u2192");nx.disabled=st.page>=pages;
nx.onclick=function(){go(st.page+1);};var at=el("span","","page ");var pi=el("input");pi.type="number";
pi.min=1;pi.max=pages;pi.value=st.page;pi.style.width="5em";pi.onchange=function(){go(+pi.value||1);};
at.appendChild(pi);at.appendChild(document.createTextNode(" of "+pages));pager.appendChild(pv);
pager.appendChild(at);pager.appendChild(nx);}
writeHash({q:st.q,class:st.class,correct:st.correct,sort:st.sort===(cfg.sorts&&cfg.sorts[0]&&
cfg.sorts[0].key)?"":st.sort,page:st.page>1?st.page:"",eager:st.eager});
document.documentElement.dataset.ready="1";}
function go(p){st.page=p;render();root.scrollIntoView();}
q.addEventListener("input",function(){st.q=q.value.trim();st.page=1;render();});
cls.addEventListener("change",function(){st.class=cls.value;st.page=1;render();});
ok.addEventListener("change",function(){st.correct=ok.value;st.page=1;render();});
sort.addEventListener("change",function(){st.sort=sort.value;st.page=1;render();});
render();}
function sortable(table){var ths=table.querySelectorAll("thead th");
ths.forEach(function(th,col){th.addEventListener("click",function(){
var dir=th.dataset.dir==="1"?-1:1;ths.forEach(function(o){delete o.dataset.dir;});th.dataset.dir=dir;
var num=th.classList.contains("n");var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=a.cells[col].dataset.v,y=b.cells[col].dataset.v;
if(x===undefined)x=a.cells[col].textContent;if(y===undefined)y=b.cells[col].textContent;
var d=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);return d*dir;});
rows.forEach(function(r){body.appendChild(r);});table.dataset.sorted=col+":"+dir;});});}
document.querySelectorAll("section.gallery").forEach(gallery);
document.querySelectorAll("table.sortable").forEach(sortable);
document.documentElement.dataset.ready="1";
})();
)JS";

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string encode_segment(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string script_json(const nlohmann::json& value) {
  // File names need not be UTF-8: invalid bytes become U+FFFD rather than an exception.
  const std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    // These characters occur only inside JSON strings, where \u escapes mean the same.
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string relative_url(const std::string& target, const std::string& page_dir) {
  const fs::path t = fs::absolute(target).lexically_normal();
  const fs::path rel = t.lexically_relative(fs::absolute(page_dir).lexically_normal());
  std::string url;
  const bool relative = !rel.empty();
  for (const auto& part : relative ? rel : t.relative_path()) {
    if (!url.empty() || !relative) url += '/';
    url += part == ".." ? std::string("..") : encode_segment(part.string());
  }
  return relative ? url : "file://" + url;
}

std::string format_number(const nlohmann::json& value, int decimals) {
  if (!value.is_number()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value.get<double>());
  return buf;
}

std::string percent(const nlohmann::json& fraction, int decimals) {
  if (!fraction.is_number()) return "-";
  return format_number(100.0 * fraction.get<double>(), decimals) + "%";
}

std::string json_element(const std::string& id, const nlohmann::json& value) {
  return "<script type=\"application/json\" id=\"" + escape_html(id) + "\">" + script_json(value) +
         "</script>\n";
}

std::string gallery(const std::string& id, const nlohmann::json& items, const nlohmann::json& config) {
  const std::string e = escape_html(id);
  return "<section class=\"gallery\" id=\"" + e +
         "\">\n<div class=\"bar\"><input class=\"q\" type=\"search\" placeholder=\"Search file or class\" "
         "aria-label=\"Search\"><select class=\"cls\" aria-label=\"Class\"><option value=\"\">All " +
         escape_html(config.value("class_label", std::string("classes"))) +
         "</option></select><select class=\"ok\" aria-label=\"Correct or wrong\"><option value=\"\">Correct "
         "and wrong</option><option value=\"correct\">Correct only</option><option value=\"wrong\">Wrong "
         "only</option></select><select class=\"sort\" aria-label=\"Sort\"></select><span "
         "class=\"count\"></span></div>\n<div class=\"grid\"></div>\n<nav class=\"pager\"></nav>\n"
         "<script type=\"application/json\" class=\"items\">" +
         script_json(items) + "</script>\n<script type=\"application/json\" class=\"config\">" +
         script_json(config) + "</script>\n</section>\n";
}

std::string sortable_table(const std::string& id, const Table& table) {
  std::string out = "<table class=\"data sortable\" id=\"" + escape_html(id) + "\"><thead><tr>";
  for (size_t c = 0; c < table.head.size(); ++c) {
    const bool n = c < table.numeric.size() && table.numeric[c];
    out += std::string("<th") + (n ? " class=\"n\"" : "") + ">" + escape_html(table.head[c]) + "</th>";
  }
  out += "</tr></thead><tbody>\n";
  for (const auto& row : table.rows) {
    out += "<tr>";
    for (size_t c = 0; c < row.size(); ++c) {
      const bool n = c < table.numeric.size() && table.numeric[c];
      out += std::string("<td") + (n ? " class=\"n\"" : "") + " data-v=\"" + escape_html(row[c].second) +
             "\">" + row[c].first + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

std::string stat_box(const std::string& value, const std::string& key) {
  return "<div class=\"stat\"><div class=\"v\">" + escape_html(value) + "</div><div class=\"k\">" +
         escape_html(key) + "</div></div>";
}

std::string provenance_footer(const nlohmann::json& p) {
  if (!p.is_object()) return "";
  auto text = [&](const char* key) {
    const auto it = p.find(key);
    return it != p.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string out = "Run by " + text("tool") + " " + text("version");
  if (!text("git_commit").empty()) out += " (commit " + text("git_commit") + ")";
  if (!text("time_utc").empty()) out += ", " + text("time_utc");
  if (!text("host").empty()) out += " on " + text("host");
  if (!text("command_line").empty()) out += ": " + text("command_line");
  return escape_html(out);
}

std::string render_page(const Page& page) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // Nothing leaves the page: no fetches, no remote scripts, styles or fonts.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file: "
      "data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n<title>" +
      escape_html(page.title) + "</title>\n<style>" + kCss + page.css + "</style>\n<script>" + kProbeJs +
      "</script>\n</head>\n<body>\n<header class=\"top\"><h1>" + escape_html(page.title) + "</h1>";
  if (!page.subtitle.empty()) out += "<div class=\"sub\">" + escape_html(page.subtitle) + "</div>";
  out += "</header>\n<main>\n" + page.body + "</main>\n";
  if (!page.footer.empty()) out += "<footer>" + page.footer + "</footer>\n";
  out += std::string(
             "<div id=\"overlay\" hidden><div class=\"box\"><img alt=\"\"><div class=\"cap\"><b "
             "class=\"t\"></b><span class=\"links\"></span><button class=\"x\" "
             "aria-label=\"Close\">\u00d7</button></div></div></div>\n<script>") +
         kMainJs + page.script + "</script>\n</body>\n</html>\n";
  return out;
}

std::string write_page(const std::string& dir, const Page& page) {
  const std::string path = (fs::path(dir) / "index.html").string();
  atomic_write(path, render_page(page));
  return path;
}

}  // namespace bagnet::reports
