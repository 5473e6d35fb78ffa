package demo

import (
	"encoding/json"
	"net/http"
	"strings"
)

// personsOpenAPI describes the sample civil-registry service the demo's
// Ministry of Interior offers through its security server.
const personsOpenAPI = `openapi: 3.0.3
info:
  title: Civil registry — persons (demo)
  version: "1"
paths:
  /v1/persons/{nationalId}:
    get:
      summary: A person by national ID
      parameters:
        - {name: nationalId, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: the person}
        "404": {description: no such person}
  /v1/persons:
    get:
      summary: All persons (demo data)
      responses:
        "200": {description: the persons}
`

// person is one synthetic civil-registry entry.
type person struct {
	NationalID string `json:"nationalId"`
	NameAR     string `json:"nameAr"`
	NameEN     string `json:"nameEn"`
	BirthDate  string `json:"birthDate"`
	Birthplace string `json:"birthplace"`
}

func demoPersons() []person {
	return []person{
		{"400123456", "أمل حداد", "Amal Haddad", "1990-03-14", "Ramallah"},
		{"400234561", "يوسف خليل", "Yousef Khalil", "1985-11-02", "Nablus"},
		{"400345672", "ليلى منصور", "Layla Mansour", "2001-07-23", "Hebron"},
	}
}

// personsHandler serves the sample service. It shows what a ministry's
// backend sees from the bus: it echoes the X-Road headers it received.
func personsHandler() http.Handler {
	mux := http.NewServeMux()
	write := func(w http.ResponseWriter, r *http.Request, code int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"data": v,
			"seenByService": map[string]string{
				"X-Road-Client": r.Header.Get("X-Road-Client"),
				"X-Road-Id":     r.Header.Get("X-Road-Id"),
				"X-Road-UserId": r.Header.Get("X-Road-UserId"),
				"X-Road-Issue":  r.Header.Get("X-Road-Issue"),
				"path":          r.URL.RequestURI(),
			},
		})
	}
	mux.HandleFunc("GET /v1/persons", func(w http.ResponseWriter, r *http.Request) { write(w, r, http.StatusOK, demoPersons()) })
	mux.HandleFunc("GET /v1/persons/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSpace(r.PathValue("id"))
		for _, p := range demoPersons() {
			if p.NationalID == id {
				write(w, r, http.StatusOK, p)
				return
			}
		}
		write(w, r, http.StatusNotFound, map[string]string{"error": "no person with national ID " + id})
	})
	return mux
}
