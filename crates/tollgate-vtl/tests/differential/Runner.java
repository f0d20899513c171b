// Reference renderer for the differential test: Apache Velocity 1.7 (Debian's `velocity`
// package), with stand-ins for API Gateway's $input, $util, $context and $stageVariables and a
// reference-insertion handler that renders null as "" the way API Gateway does.
//
// Run as a single-file source program (JDK 11+):
//   java -cp /usr/share/java/velocity.jar:/usr/share/java/commons-collections3.jar:/usr/share/java/commons-lang.jar \
//        Runner.java < cases.bin > results.bin
// Input, repeated until EOF: "<byte length>\n<body bytes>" then "<byte length>\n<template bytes>".
// Output, per case: "OK <byte length>\n<output bytes>" or "ERR <byte length>\n<message bytes>".
import java.io.*;
import java.math.BigInteger;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.*;
import org.apache.velocity.VelocityContext;
import org.apache.velocity.app.VelocityEngine;
import org.apache.velocity.app.event.EventCartridge;
import org.apache.velocity.app.event.ReferenceInsertionEventHandler;
import org.apache.commons.lang.StringEscapeUtils;

public class Runner {
    public static void main(String[] args) throws Exception {
        VelocityEngine ve = new VelocityEngine();
        ve.setProperty("runtime.log.logsystem.class", "org.apache.velocity.runtime.log.NullLogChute");
        ve.init();
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
        OutputStream out = new BufferedOutputStream(System.out);
        while (true) {
            String body = readChunk(in);
            if (body == null) break;
            String template = readChunk(in);
            String status;
            String result;
            try {
                VelocityContext ctx = new VelocityContext();
                Object root = body.isEmpty() ? null : tryParse(body);
                ctx.put("input", new Input(body, root));
                ctx.put("util", new Util());
                Map<String, Object> context = new LinkedHashMap<>();
                context.put("stage", "test");
                context.put("httpMethod", "POST");
                context.put("requestId", "req-1");
                Map<String, Object> identity = new LinkedHashMap<>();
                identity.put("sourceIp", "127.0.0.1");
                context.put("identity", identity);
                ctx.put("context", context);
                Map<String, Object> sv = new LinkedHashMap<>();
                sv.put("env", "dev");
                ctx.put("stageVariables", sv);
                EventCartridge ec = new EventCartridge();
                ec.addEventHandler(new ReferenceInsertionEventHandler() {
                    public Object referenceInsert(String reference, Object value) {
                        return value == null ? "" : value;
                    }
                });
                ec.attachToContext(ctx);
                StringWriter w = new StringWriter();
                ve.evaluate(ctx, w, "case", template);
                status = "OK";
                result = w.toString();
            } catch (Throwable e) {
                status = "ERR";
                result = e.getClass().getSimpleName();
            }
            byte[] bytes = result.getBytes(StandardCharsets.UTF_8);
            out.write((status + " " + bytes.length + "\n").getBytes(StandardCharsets.UTF_8));
            out.write(bytes);
        }
        out.flush();
    }

    static String readChunk(DataInputStream in) throws IOException {
        StringBuilder len = new StringBuilder();
        int c;
        while ((c = in.read()) != '\n') {
            if (c < 0) return null;
            len.append((char) c);
        }
        byte[] b = new byte[Integer.parseInt(len.toString().trim())];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    static Object tryParse(String s) {
        try { return new Json(s).parseTop(); } catch (RuntimeException e) { return null; }
    }

    /** $input: body, path and json for simple definite paths ($, $.a.b, $['a'], $.a[0]). */
    public static class Input {
        private final String body;
        private final Object root;
        Input(String body, Object root) { this.body = body; this.root = root; }
        public String getBody() { return body.isEmpty() ? "{}" : body; }
        public Object path(String p) { return walk(p); }
        public String json(String p) { Object v = walk(p); return v == null ? "" : Json.write(v); }
        public Map<String, Object> params() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("path", new LinkedHashMap<String, Object>());
            m.put("querystring", new LinkedHashMap<String, Object>());
            m.put("header", new LinkedHashMap<String, Object>());
            return m;
        }
        public String params(String name) { return ""; }
        private Object walk(String p) {
            Object cur = root;
            int i = 1;
            if (!p.startsWith("$")) return null;
            while (i < p.length() && cur != null) {
                char c = p.charAt(i);
                if (c == '.') {
                    int j = i + 1;
                    while (j < p.length() && p.charAt(j) != '.' && p.charAt(j) != '[') j++;
                    cur = cur instanceof Map ? ((Map<?, ?>) cur).get(p.substring(i + 1, j)) : null;
                    i = j;
                } else if (c == '[') {
                    int j = p.indexOf(']', i);
                    String k = p.substring(i + 1, j);
                    if (k.startsWith("'") || k.startsWith("\"")) {
                        cur = cur instanceof Map ? ((Map<?, ?>) cur).get(k.substring(1, k.length() - 1)) : null;
                    } else {
                        int idx = Integer.parseInt(k);
                        if (cur instanceof List && idx >= 0 && idx < ((List<?>) cur).size()) cur = ((List<?>) cur).get(idx);
                        else cur = null;
                    }
                    i = j + 1;
                } else return null;
            }
            return cur;
        }
    }

    /** $util with the same Java library calls API Gateway documents. */
    public static class Util {
        public String escapeJavaScript(String s) { return StringEscapeUtils.escapeJavaScript(s); }
        public String urlEncode(String s) throws Exception { return URLEncoder.encode(s, "UTF-8"); }
        public String urlDecode(String s) throws Exception { return URLDecoder.decode(s, "UTF-8"); }
        public String base64Encode(String s) { return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8)); }
        public String base64Decode(String s) { return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8); }
        public Object parseJson(String s) { return new Json(s).parseTop(); }
    }

    /** A small JSON reader/writer: objects keep key order, integers are Integer/Long, decimals Double. */
    static class Json {
        final String s; int i = 0;
        Json(String s) { this.s = s; }
        Object parseTop() { Object v = parse(); ws(); if (i != s.length()) throw new RuntimeException("trailing"); return v; }
        void ws() { while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++; }
        Object parse() {
            ws();
            char c = s.charAt(i);
            if (c == '{') {
                i++; Map<String, Object> m = new LinkedHashMap<>(); ws();
                if (s.charAt(i) == '}') { i++; return m; }
                while (true) {
                    ws(); String k = str(); ws(); expect(':'); m.put(k, parse()); ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect('}'); return m;
                }
            } else if (c == '[') {
                i++; List<Object> l = new ArrayList<>(); ws();
                if (s.charAt(i) == ']') { i++; return l; }
                while (true) {
                    l.add(parse()); ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect(']'); return l;
                }
            } else if (c == '"') return str();
            else if (s.startsWith("true", i)) { i += 4; return Boolean.TRUE; }
            else if (s.startsWith("false", i)) { i += 5; return Boolean.FALSE; }
            else if (s.startsWith("null", i)) { i += 4; return null; }
            int st = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            String n = s.substring(st, i);
            if (n.isEmpty()) throw new RuntimeException("bad json");
            if (n.contains(".") || n.contains("e") || n.contains("E")) return Double.valueOf(n);
            BigInteger b = new BigInteger(n);
            if (b.bitLength() < 32) return b.intValue();
            if (b.bitLength() < 64) return b.longValue();
            return b;
        }
        void expect(char c) { if (s.charAt(i) != c) throw new RuntimeException("expected " + c); i++; }
        String str() {
            expect('"'); StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') return b.toString();
                if (c == '\\') {
                    char e = s.charAt(i++);
                    switch (e) {
                        case 'n': b.append('\n'); break;
                        case 't': b.append('\t'); break;
                        case 'r': b.append('\r'); break;
                        case 'b': b.append('\b'); break;
                        case 'f': b.append('\f'); break;
                        case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                        default: b.append(e);
                    }
                } else b.append(c);
            }
        }
        static String write(Object v) {
            if (v == null) return "null";
            if (v instanceof String) return quote((String) v);
            if (v instanceof Map) {
                StringBuilder b = new StringBuilder("{"); boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) b.append(','); first = false;
                    b.append(quote(String.valueOf(e.getKey()))).append(':').append(write(e.getValue()));
                }
                return b.append('}').toString();
            }
            if (v instanceof List) {
                StringBuilder b = new StringBuilder("["); boolean first = true;
                for (Object o : (List<?>) v) { if (!first) b.append(','); first = false; b.append(write(o)); }
                return b.append(']').toString();
            }
            return String.valueOf(v);
        }
        static String quote(String s) {
            StringBuilder b = new StringBuilder("\"");
            for (char c : s.toCharArray()) {
                switch (c) {
                    case '"': b.append("\\\""); break;
                    case '\\': b.append("\\\\"); break;
                    case '\n': b.append("\\n"); break;
                    case '\r': b.append("\\r"); break;
                    case '\t': b.append("\\t"); break;
                    default:
                        if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); else b.append(c);
                }
            }
            return b.append('"').toString();
        }
    }
}
